//! Finite-field Diffie-Hellman of PACE and chip authentication on OpenSSL big numbers: RFC
//! 5114's MODP groups (PACE standardised domain parameters 0 to 2), exponents from the caller's
//! randomness, and RFC 2631's public value validation.

use openssl::bn::{BigNum, BigNumContext, BigNumRef};
use openssl::dh::Dh;
use openssl::error::ErrorStack;
use openssl::pkey::Params;
use rand::RngCore;

use super::ChipError;

/// A uniformly random integer in [1, bound-1] from `rng` (rejection sampling over the bytes
/// of `bound`).
pub fn random_below(bound: &BigNumRef, rng: &mut dyn RngCore) -> Result<BigNum, ErrorStack> {
    let width = usize::try_from(bound.num_bytes()).unwrap_or(0);
    loop {
        let mut bytes = vec![0; width];
        rng.fill_bytes(&mut bytes);
        let candidate = BigNum::from_slice(&bytes)?;
        if candidate.num_bits() > 0 && candidate < *bound {
            return Ok(candidate);
        }
    }
}

/// RFC 2631's public key validation: 1 < y < p-1 and, with q, y^q = 1 mod p.
pub fn is_valid_public(
    y: &BigNumRef,
    p: &BigNumRef,
    q: Option<&BigNumRef>,
    ctx: &mut BigNumContext,
) -> Result<bool, ErrorStack> {
    let one = BigNum::from_u32(1)?;
    let mut p_minus_one = BigNum::new()?;
    p_minus_one.checked_sub(p, &one)?;
    if *y <= *one || *y >= *p_minus_one {
        return Ok(false);
    }
    if let Some(q) = q {
        let mut check = BigNum::new()?;
        check.mod_exp(y, q, p, ctx)?;
        return Ok(check == one);
    }
    Ok(true)
}

/// y^x mod p as wide as p (leading zeros kept), after validating y; `None` when y fails it.
pub fn shared(
    y: &BigNumRef,
    x: &BigNumRef,
    p: &BigNumRef,
    q: Option<&BigNumRef>,
    ctx: &mut BigNumContext,
) -> Result<Option<Vec<u8>>, ErrorStack> {
    if !is_valid_public(y, p, q, ctx)? {
        return Ok(None);
    }
    let mut shared = BigNum::new()?;
    shared.mod_exp(y, x, p, ctx)?;
    Ok(Some(shared.to_vec_padded(p.num_bytes())?))
}

/// A standardised finite-field group of PACE (Doc 9303-11 section 9.5.1, RFC 5114).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DhGroup {
    /// Parameter ID 0: 1024-bit MODP group with a 160-bit prime order subgroup.
    Modp1024_160,
    /// Parameter ID 1: 2048-bit MODP group with a 224-bit prime order subgroup.
    Modp2048_224,
    /// Parameter ID 2: 2048-bit MODP group with a 256-bit prime order subgroup.
    Modp2048_256,
}

/// OpenSSL failures are not the chip's doing; one message for all.
fn arithmetic(_: ErrorStack) -> ChipError {
    ChipError::Crypto {
        why: "finite-field DH arithmetic failed",
    }
}

const NOT_IN_GROUP: ChipError = ChipError::Crypto {
    why: "DH public value is not in the group",
};

impl DhGroup {
    /// The group of a standardised domain-parameter ID, if it is a finite-field one.
    pub fn from_parameter_id(id: u32) -> Option<Self> {
        match id {
            0 => Some(Self::Modp1024_160),
            1 => Some(Self::Modp2048_224),
            2 => Some(Self::Modp2048_256),
            _ => None,
        }
    }

    /// Its standardised domain-parameter ID.
    pub fn parameter_id(self) -> u32 {
        match self {
            Self::Modp1024_160 => 0,
            Self::Modp2048_224 => 1,
            Self::Modp2048_256 => 2,
        }
    }

    fn params(self) -> Result<Dh<Params>, ChipError> {
        match self {
            Self::Modp1024_160 => Dh::get_1024_160(),
            Self::Modp2048_224 => Dh::get_2048_224(),
            Self::Modp2048_256 => Dh::get_2048_256(),
        }
        .map_err(arithmetic)
    }

    /// A private exponent in [1, q-1] from `rng`.
    pub fn random_private_key(self, rng: &mut dyn RngCore) -> Result<Vec<u8>, ChipError> {
        let params = self.params()?;
        let q = params.prime_q().ok_or(ChipError::Crypto {
            why: "RFC 5114 group without q",
        })?;
        Ok(random_below(q, rng).map_err(arithmetic)?.to_vec())
    }

    /// `g^x mod p` for the group's generator, as wide as p.
    pub fn mul_generator(self, x: &[u8]) -> Result<Vec<u8>, ChipError> {
        let params = self.params()?;
        self.power(&params, params.generator(), x)
    }

    /// `y^x mod p` for an element given as an unsigned big-endian integer; refuses elements
    /// outside the prime-order subgroup (RFC 2631 validation).
    pub fn mul(self, element: &[u8], x: &[u8]) -> Result<Vec<u8>, ChipError> {
        let params = self.params()?;
        let y = BigNum::from_slice(element).map_err(arithmetic)?;
        let mut ctx = BigNumContext::new().map_err(arithmetic)?;
        if !is_valid_public(&y, params.prime_p(), params.prime_q(), &mut ctx).map_err(arithmetic)? {
            return Err(NOT_IN_GROUP);
        }
        self.power(&params, &y, x)
    }

    /// PACE generic mapping for DH: `g~ = g^s · h mod p` (Doc 9303-11 section 4.4.3.3.1).
    pub fn map_generator(self, nonce: &[u8], shared: &[u8]) -> Result<Vec<u8>, ChipError> {
        let params = self.params()?;
        let p = params.prime_p();
        let mut ctx = BigNumContext::new().map_err(arithmetic)?;
        let h = BigNum::from_slice(shared).map_err(arithmetic)?;
        if !is_valid_public(&h, p, params.prime_q(), &mut ctx).map_err(arithmetic)? {
            return Err(NOT_IN_GROUP);
        }
        let s = BigNum::from_slice(nonce).map_err(arithmetic)?;
        let mut g_s = BigNum::new().map_err(arithmetic)?;
        g_s.mod_exp(params.generator(), &s, p, &mut ctx)
            .map_err(arithmetic)?;
        let mut mapped = BigNum::new().map_err(arithmetic)?;
        mapped.mod_mul(&g_s, &h, p, &mut ctx).map_err(arithmetic)?;
        mapped.to_vec_padded(p.num_bytes()).map_err(arithmetic)
    }

    fn power(self, params: &Dh<Params>, base: &BigNumRef, x: &[u8]) -> Result<Vec<u8>, ChipError> {
        let x = BigNum::from_slice(x).map_err(arithmetic)?;
        if x.num_bits() == 0 {
            return Err(ChipError::Crypto {
                why: "DH private exponent is zero",
            });
        }
        let p = params.prime_p();
        let mut ctx = BigNumContext::new().map_err(arithmetic)?;
        let mut out = BigNum::new().map_err(arithmetic)?;
        out.mod_exp(base, &x, p, &mut ctx).map_err(arithmetic)?;
        out.to_vec_padded(p.num_bytes()).map_err(arithmetic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_of_generic_mapping_agree_and_outsiders_are_refused() {
        let mut rng = rand::thread_rng();
        for group in [
            DhGroup::Modp1024_160,
            DhGroup::Modp2048_224,
            DhGroup::Modp2048_256,
        ] {
            assert_eq!(
                DhGroup::from_parameter_id(group.parameter_id()),
                Some(group)
            );
            let (a, b) = (
                group.random_private_key(&mut rng).expect("a"),
                group.random_private_key(&mut rng).expect("b"),
            );
            let (ya, yb) = (
                group.mul_generator(&a).expect("ya"),
                group.mul_generator(&b).expect("yb"),
            );
            let h = group.mul(&yb, &a).expect("h");
            assert_eq!(h, group.mul(&ya, &b).expect("h'"));
            let nonce = [0x3F; 16];
            let mapped = group.map_generator(&nonce, &h).expect("map");
            // The mapped generator stays in the subgroup, so it works as a base again.
            assert!(group.mul(&mapped, &a).is_ok());
            let width = if group == DhGroup::Modp1024_160 {
                128
            } else {
                256
            };
            assert_eq!((ya.len(), mapped.len()), (width, width));
            assert_eq!(group.mul(&[1], &a), Err(NOT_IN_GROUP));
            let mut p_minus_one = group.params().expect("p").prime_p().to_vec();
            if let Some(last) = p_minus_one.last_mut() {
                *last -= 1;
            }
            assert_eq!(group.mul(&p_minus_one, &a), Err(NOT_IN_GROUP));
            // 2 generates more than the prime-order subgroup of these groups.
            assert_eq!(group.mul(&[2], &a), Err(NOT_IN_GROUP));
        }
        assert_eq!(DhGroup::from_parameter_id(3), None);
    }
}
