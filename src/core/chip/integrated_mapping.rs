//! PACE integrated mapping for ECDH (Doc 9303-11 section 4.4.3.3.2 and Appendix B): the chip's
//! nonce s and the terminal's nonce t become the generator `G' = f_G(R_p(s, t))`.

use openssl::bn::{BigNum, BigNumContext, BigNumRef};
use openssl::ec::EcGroup;
use openssl::error::ErrorStack;

use super::ChipError;
use super::crypto::Cipher;
use super::ec::Curve;

/// The constants c0 and c1 of the pseudo-random number mapping for l = 128 (3DES, AES-128).
const C0_128: [u8; 16] = [
    0xA6, 0x68, 0x89, 0x2A, 0x7C, 0x41, 0xE3, 0xCA, 0x73, 0x9F, 0x40, 0xB0, 0x57, 0xD8, 0x59, 0x04,
];
const C1_128: [u8; 16] = [
    0xA4, 0xE1, 0x36, 0xAC, 0x72, 0x5F, 0x73, 0x8B, 0x01, 0xC1, 0xF6, 0x02, 0x17, 0xC1, 0x88, 0xAD,
];
/// The same for l = 256 (AES-192, AES-256).
const C0_256: [u8; 32] = [
    0xD4, 0x63, 0xD6, 0x52, 0x34, 0x12, 0x4E, 0xF7, 0x89, 0x70, 0x54, 0x98, 0x6D, 0xCA, 0x0A, 0x17,
    0x4E, 0x28, 0xDF, 0x75, 0x8C, 0xBA, 0xA0, 0x3F, 0x24, 0x06, 0x16, 0x41, 0x4D, 0x5A, 0x16, 0x76,
];
const C1_256: [u8; 32] = [
    0x54, 0xBD, 0x72, 0x55, 0xF0, 0xAA, 0xF8, 0x31, 0xBE, 0xC3, 0x42, 0x3F, 0xCF, 0x39, 0xD6, 0x9B,
    0x6C, 0xBF, 0x06, 0x66, 0x77, 0xD0, 0xFA, 0xAE, 0x5A, 0xAD, 0xD9, 0x9D, 0xF8, 0xE5, 0x35, 0x17,
];

/// The byte length of the terminal's nonce t: the cipher's key size (3DES counts as 128 bits).
pub fn terminal_nonce_len(cipher: Cipher) -> usize {
    cipher.key_size()
}

/// The byte length l of the chip's nonce s: the smallest multiple of the block size that is at
/// least the key size.
pub fn chip_nonce_len(cipher: Cipher) -> usize {
    let block = cipher.block_size();
    cipher.key_size().div_ceil(block) * block
}

/// `G' = f_G(R_p(s, t))` on `curve`, as an uncompressed point.
pub fn map_generator(
    curve: Curve,
    cipher: Cipher,
    s: &[u8],
    t: &[u8],
) -> Result<Vec<u8>, ChipError> {
    if s.len() != chip_nonce_len(cipher) || t.len() != terminal_nonce_len(cipher) {
        return Err(ChipError::Crypto {
            why: "integrated mapping nonce of the wrong length for the cipher",
        });
    }
    let group = EcGroup::from_curve_name(curve.openssl_nid()).map_err(openssl_failed)?;
    let mut ctx = BigNumContext::new().map_err(openssl_failed)?;
    let mut p = BigNum::new().map_err(openssl_failed)?;
    let mut a = BigNum::new().map_err(openssl_failed)?;
    let mut b = BigNum::new().map_err(openssl_failed)?;
    group
        .components_gfp(&mut p, &mut a, &mut b, &mut ctx)
        .map_err(openssl_failed)?;
    let random = pseudo_random(cipher, s, t, usize::try_from(p.num_bits()).unwrap_or(0))?;
    let whole = BigNum::from_slice(&random).map_err(openssl_failed)?;
    let mut r = BigNum::new().map_err(openssl_failed)?;
    r.nnmod(&whole, &p, &mut ctx).map_err(openssl_failed)?;
    let (x, y) = point_encoding(&r, &p, &a, &b, &mut ctx)
        .map_err(openssl_failed)?
        .ok_or(ChipError::Crypto {
            why: "integrated mapping met a degenerate field element",
        })?;
    let width = curve.field_size();
    let mut point = vec![0x04];
    for coordinate in [x, y] {
        point.extend(
            coordinate
                .to_vec_padded(i32::try_from(width).unwrap_or(i32::MAX))
                .map_err(openssl_failed)?,
        );
    }
    // Checks the point is on the curve and not the identity (curves of cofactor 1 only).
    curve.validate(&point)?;
    Ok(point)
}

/// R(s, t): block-cipher CBC encryptions with IV 0 keyed first by t, then by the chained keys
/// k_i, yielding x_1‖…‖x_n with n·l ≥ log2 p + 64.
fn pseudo_random(cipher: Cipher, s: &[u8], t: &[u8], p_bits: usize) -> Result<Vec<u8>, ChipError> {
    let (c0, c1): (&[u8], &[u8]) = if chip_nonce_len(cipher) == 16 {
        (&C0_128, &C1_128)
    } else {
        (&C0_256, &C1_256)
    };
    let iv = vec![0; cipher.block_size()];
    let key_len = cipher.key_size();
    let l_bits = c0.len() * 8;
    let blocks = (p_bits + 64).div_ceil(l_bits);
    let mut key = cipher.cbc_encrypt(t, &iv, s)?;
    let mut output = Vec::with_capacity(blocks * c1.len());
    for _ in 0..blocks {
        key.truncate(key_len);
        output.extend(cipher.cbc_encrypt(&key, &iv, c1)?);
        key = cipher.cbc_encrypt(&key, &iv, c0)?;
    }
    Ok(output)
}

/// f_G of Appendix B (affine coordinates, p ≡ 3 mod 4): the point (x, y) for the field element
/// r, or `None` when r makes the formula divide by zero.
fn point_encoding(
    r: &BigNumRef,
    p: &BigNumRef,
    a: &BigNumRef,
    b: &BigNumRef,
    ctx: &mut BigNumContext,
) -> Result<Option<(BigNum, BigNum)>, ErrorStack> {
    let zero = BigNum::new()?;
    let one = BigNum::from_u32(1)?;
    let mut tmp = BigNum::new()?;
    // alpha = -r^2
    let mut r_squared = BigNum::new()?;
    r_squared.mod_sqr(r, p, ctx)?;
    let mut alpha = BigNum::new()?;
    alpha.mod_sub(&zero, &r_squared, p, ctx)?;
    // s = alpha + alpha^2; X2 = -b (1 + s) / (a s)
    let mut alpha_squared = BigNum::new()?;
    alpha_squared.mod_sqr(&alpha, p, ctx)?;
    let mut sum = BigNum::new()?;
    sum.mod_add(&alpha, &alpha_squared, p, ctx)?;
    let mut denominator = BigNum::new()?;
    denominator.mod_mul(a, &sum, p, ctx)?;
    if denominator == zero {
        return Ok(None);
    }
    let mut inverse = BigNum::new()?;
    inverse.mod_inverse(&denominator, p, ctx)?;
    let mut numerator = BigNum::new()?;
    numerator.mod_add(&one, &sum, p, ctx)?;
    tmp.mod_mul(b, &numerator, p, ctx)?;
    let mut minus_b_numerator = BigNum::new()?;
    minus_b_numerator.mod_sub(&zero, &tmp, p, ctx)?;
    let mut x2 = BigNum::new()?;
    x2.mod_mul(&minus_b_numerator, &inverse, p, ctx)?;
    // X3 = alpha X2; h2 = X2^3 + a X2 + b; U = r^3 h2
    let mut x3 = BigNum::new()?;
    x3.mod_mul(&alpha, &x2, p, ctx)?;
    let h2 = curve_rhs(&x2, p, a, b, ctx)?;
    let mut r_cubed = BigNum::new()?;
    r_cubed.mod_mul(&r_squared, r, p, ctx)?;
    let mut u = BigNum::new()?;
    u.mod_mul(&r_cubed, &h2, p, ctx)?;
    // A = h2^(p - 1 - (p + 1) / 4)
    let mut p_plus_one = BigNum::new()?;
    p_plus_one.checked_add(p, &one)?;
    let mut quarter = BigNum::new()?;
    quarter.rshift(&p_plus_one, 2)?;
    let mut p_minus_one = BigNum::new()?;
    p_minus_one.checked_sub(p, &one)?;
    let mut exponent = BigNum::new()?;
    exponent.checked_sub(&p_minus_one, &quarter)?;
    let mut big_a = BigNum::new()?;
    big_a.mod_exp(&h2, &exponent, p, ctx)?;
    // A^2 h2 = 1: (X2, A h2); otherwise (X3, A U)
    let mut check = BigNum::new()?;
    check.mod_sqr(&big_a, p, ctx)?;
    tmp.mod_mul(&check, &h2, p, ctx)?;
    let mut y = BigNum::new()?;
    if tmp == one {
        y.mod_mul(&big_a, &h2, p, ctx)?;
        Ok(Some((x2, y)))
    } else {
        y.mod_mul(&big_a, &u, p, ctx)?;
        Ok(Some((x3, y)))
    }
}

/// x^3 + a x + b mod p.
fn curve_rhs(
    x: &BigNumRef,
    p: &BigNumRef,
    a: &BigNumRef,
    b: &BigNumRef,
    ctx: &mut BigNumContext,
) -> Result<BigNum, ErrorStack> {
    let mut x_squared = BigNum::new()?;
    x_squared.mod_sqr(x, p, ctx)?;
    let mut x_cubed = BigNum::new()?;
    x_cubed.mod_mul(&x_squared, x, p, ctx)?;
    let mut ax = BigNum::new()?;
    ax.mod_mul(a, x, p, ctx)?;
    let mut sum = BigNum::new()?;
    sum.mod_add(&x_cubed, &ax, p, ctx)?;
    let mut rhs = BigNum::new()?;
    rhs.mod_add(&sum, b, p, ctx)?;
    Ok(rhs)
}

fn openssl_failed(_: ErrorStack) -> ChipError {
    ChipError::Crypto {
        why: "OpenSSL big-number arithmetic failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).expect("hex")
    }

    /// Doc 9303-11's worked example of PACE integrated mapping (ECDH, brainpoolP256r1, AES-128).
    const S: &str = "2923BE84 E16CD6AE 529049F1 F1BBE9EB";
    const T: &str = "5DD4CBFC 96F5453B 130D890A 1CDBAE32";

    #[test]
    fn doc9303_worked_example_nonce_and_pseudo_random_number() {
        let nonce = Cipher::Aes128
            .cbc_decrypt(
                &hex("591468CD A83D6521 9CCCB856 0233600F"),
                &[0; 16],
                &hex("143DC40C 08C8E891 FBED7DED B92B64AD"),
            )
            .expect("decrypt");
        assert_eq!(nonce, hex(S));
        let random = pseudo_random(Cipher::Aes128, &hex(S), &hex(T), 256).expect("R");
        assert_eq!(
            random,
            hex(
                "E4447E2D FB3586BA C05DDB00 156B57FB B2179A39 49294C97 25418980 0C517BAA 8DA0FF39 7ED8C445 D3E421E4 FEB57322"
            )
        );
    }

    #[test]
    fn doc9303_worked_example_mapped_generator() {
        let generator =
            map_generator(Curve::BrainpoolP256r1, Cipher::Aes128, &hex(S), &hex(T)).expect("map");
        assert_eq!(
            generator,
            hex(
                "04 8E82D315 59ED0FDE 92A4D049 8ADD3C23 BABA94FB 77691E31 E90AEA77 FB17D427 4C1AE14B D0C3DBAC 0C871B7F 36081693 64437CA3 0AC243A0 89D3F266 C1E60FAD"
            )
        );
    }

    #[test]
    fn every_cipher_maps_onto_both_curves() {
        for cipher in [Cipher::Tdes, Cipher::Aes128, Cipher::Aes192, Cipher::Aes256] {
            let s: Vec<u8> = (0..chip_nonce_len(cipher)).map(|i| i as u8).collect();
            let t: Vec<u8> = (0..terminal_nonce_len(cipher))
                .map(|i| 0xF0 ^ i as u8)
                .collect();
            for curve in [Curve::NistP256, Curve::BrainpoolP256r1] {
                let generator = map_generator(curve, cipher, &s, &t).expect("map");
                assert_eq!(generator.len(), 65, "{cipher:?} {curve:?}");
            }
        }
    }

    #[test]
    fn nonces_of_the_wrong_length_are_refused() {
        let result = map_generator(Curve::NistP256, Cipher::Aes256, &[0; 16], &[0; 32]);
        assert!(
            matches!(result, Err(ChipError::Crypto { .. })),
            "{result:?}"
        );
    }
}
