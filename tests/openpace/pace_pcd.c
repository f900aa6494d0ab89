/* The terminal side of PACE written against OpenPACE (libeac), the independent implementation
 * tests/chip_openpace.rs checks the chip simulator against: it reads EF.CardAccess over PC/SC,
 * runs PACE with OpenPACE's steps, opens secure messaging with OpenPACE's keys and reads one
 * file of the eMRTD application, printed as hex on stdout.
 *
 * usage: pace_pcd READER-PATTERN (mrz MRZ-INFORMATION | can DIGITS) [FID-HEX] [RUNS]
 *   MRZ-INFORMATION: document number, date of birth, date of expiry, each with its check digit
 *   (24 characters). RUNS > 1 repeats PACE alone that many times before the read (to meet DH
 *   public values with leading zero bytes). PACE_PCD_TR_2_01 in the environment lets OpenPACE run
 *   integrated mapping, which it implements only as TR-03110 2.01 defines it.
 * exit: 0 read, 2 PACE refused (wrong password), 3 PACE refused where OpenPACE's DH shared
 * secret is narrower than p (see pace()), 1 anything else. Built by the test with
 * `cc pace_pcd.c $(pkg-config --cflags --libs libeac libpcsclite)`. */

#define _GNU_SOURCE
#include <eac/eac.h>
#include <eac/objects.h>
#include <eac/pace.h>
#include <openssl/buffer.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <winscard.h>

#define MAX_APDU 65546
/* The longest plain answer the harness asks for (READ BINARY of 223 bytes), with room. */
#define PLAIN_MAX 512

static SCARDCONTEXT context;
static SCARDHANDLE card;
static DWORD protocol;
/* The chip's DH public values with a leading zero byte (sent as wide as p), and OpenPACE's
 * narrower than p (sent in their fewest octets): the cases where token encodings can differ. */
static int leading_zero_values, narrow_terminal_values;

static void fail(const char *what)
{
    fprintf(stderr, "pace_pcd: %s\n", what);
    exit(1);
}

static void hex(FILE *out, const unsigned char *data, size_t len)
{
    for (size_t i = 0; i < len; i++)
        fprintf(out, "%02X", data[i]);
}

/* One APDU; returns the response length (data and status word). */
static size_t transmit(const unsigned char *command, size_t len, unsigned char *response)
{
    DWORD answer = MAX_APDU;
    const SCARD_IO_REQUEST *pci = protocol == SCARD_PROTOCOL_T0 ? SCARD_PCI_T0 : SCARD_PCI_T1;
    LONG rv = SCardTransmit(card, pci, command, len, NULL, response, &answer);
    if (rv != SCARD_S_SUCCESS || answer < 2) {
        fprintf(stderr, "pace_pcd: transmit: %s\n", pcsc_stringify_error(rv));
        exit(1);
    }
    return answer;
}

static unsigned sw_of(const unsigned char *response, size_t len)
{
    return (unsigned) response[len - 2] << 8 | response[len - 1];
}

/* Header, Lc, data, Le: short when both fit, extended otherwise. le < 0: no Le. */
static size_t build_apdu(unsigned char *out, const unsigned char header[4],
                         const unsigned char *data, size_t len, long le)
{
    size_t at = 4;
    int extended = len > 255 || le > 256;
    memcpy(out, header, 4);
    if (len) {
        if (extended) {
            out[at++] = 0;
            out[at++] = (unsigned char) (len >> 8);
            out[at++] = (unsigned char) len;
        } else {
            out[at++] = (unsigned char) len;
        }
        memcpy(out + at, data, len);
        at += len;
    }
    if (le >= 0) {
        if (extended) {
            if (!len)
                out[at++] = 0;
            out[at++] = (unsigned char) (le >> 8 & 0xFF);
            out[at++] = (unsigned char) (le & 0xFF);
        } else {
            out[at++] = (unsigned char) (le & 0xFF);
        }
    }
    return at;
}

/* A BER length at `p` (up to three bytes); sets *len and returns the bytes it took, 0 if bad. */
static size_t ber_length(const unsigned char *p, size_t avail, size_t *len)
{
    if (avail < 1)
        return 0;
    if (p[0] < 0x80) {
        *len = p[0];
        return 1;
    }
    if (p[0] == 0x81 && avail >= 2) {
        *len = p[1];
        return 2;
    }
    if (p[0] == 0x82 && avail >= 3) {
        *len = (size_t) p[1] << 8 | p[2];
        return 3;
    }
    return 0;
}

static size_t put_length(unsigned char *p, size_t len)
{
    if (len < 0x80) {
        p[0] = (unsigned char) len;
        return 1;
    }
    if (len < 0x100) {
        p[0] = 0x81;
        p[1] = (unsigned char) len;
        return 2;
    }
    p[0] = 0x82;
    p[1] = (unsigned char) (len >> 8);
    p[2] = (unsigned char) len;
    return 3;
}

/* GENERAL AUTHENTICATE with 7C{tag: value} (tag 0: empty template); returns the value of the
 * answer's single data object in a new BUF_MEM, or NULL with *sw set when the chip refused. */
static BUF_MEM *general_authenticate(int last, unsigned char tag, const BUF_MEM *value,
                                     unsigned *sw)
{
    unsigned char inner[1024], data[1100], apdu[1200], response[MAX_APDU];
    size_t inner_len = 0, data_len = 0;
    unsigned char header[4] = {last ? 0x00 : 0x10, 0x86, 0x00, 0x00};
    if (tag) {
        inner[inner_len++] = tag;
        inner_len += put_length(inner + inner_len, value->length);
        memcpy(inner + inner_len, value->data, value->length);
        inner_len += value->length;
    }
    data[data_len++] = 0x7C;
    data_len += put_length(data + data_len, inner_len);
    memcpy(data + data_len, inner, inner_len);
    data_len += inner_len;
    size_t len = build_apdu(apdu, header, data, data_len, data_len > 255 ? 65536 : 256);
    size_t got = transmit(apdu, len, response);
    *sw = sw_of(response, got);
    if (*sw != 0x9000)
        return NULL;
    size_t outer, object, skip;
    if (got < 4 || response[0] != 0x7C)
        fail("GENERAL AUTHENTICATE answer is not a 7C template");
    skip = ber_length(response + 1, got - 3, &outer);
    if (!skip || 1 + skip + outer > got - 2)
        fail("bad 7C length");
    const unsigned char *p = response + 1 + skip;
    if (outer == 0)
        return BUF_MEM_new();
    size_t lsize = ber_length(p + 1, outer - 1, &object);
    if (!lsize || 1 + lsize + object > outer)
        fail("bad data object in 7C");
    BUF_MEM *out = BUF_MEM_new();
    BUF_MEM_grow(out, object);
    memcpy(out->data, p + 1 + lsize, object);
    return out;
}

static unsigned first(const BUF_MEM *value)
{
    return value->length ? (unsigned char) value->data[0] : 0x100;
}

/* Finite-field DH: RFC 5114's groups come with q, which OpenSSL types as X9.42 DH. */
static int is_dh(const EAC_CTX *ctx)
{
    int type = EVP_PKEY_base_id(ctx->pace_ctx->ka_ctx->key);
    return type == EVP_PKEY_DH || type == EVP_PKEY_DHX;
}

static void note_leading_zero(const BUF_MEM *value)
{
    if (value->length > 0 && (unsigned char) value->data[0] == 0)
        leading_zero_values++;
}

static void connect_card(const char *pattern)
{
    char readers[4096];
    DWORD size = sizeof readers;
    if (SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &context) != SCARD_S_SUCCESS)
        fail("no PC/SC context (is pcscd running?)");
    if (SCardListReaders(context, NULL, readers, &size) != SCARD_S_SUCCESS)
        fail("no readers");
    const char *name = NULL;
    for (const char *r = readers; *r; r += strlen(r) + 1)
        if (strcasestr(r, pattern)) {
            name = r;
            break;
        }
    if (!name)
        fail("no reader matches the pattern");
    for (int tries = 0;; tries++) {
        LONG rv = SCardConnect(context, name, SCARD_SHARE_EXCLUSIVE,
                               SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &card, &protocol);
        if (rv == SCARD_S_SUCCESS)
            return;
        if (tries > 100)
            fail(pcsc_stringify_error(rv));
        usleep(100000);
    }
}

/* EF.CardAccess in the clear: SELECT 011C under the master file, then READ BINARY. */
static BUF_MEM *read_card_access(void)
{
    unsigned char select[] = {0x00, 0xA4, 0x02, 0x0C, 0x02, 0x01, 0x1C};
    unsigned char response[MAX_APDU];
    size_t got = transmit(select, sizeof select, response);
    if (sw_of(response, got) != 0x9000)
        fail("no EF.CardAccess");
    BUF_MEM *out = BUF_MEM_new();
    for (size_t offset = 0;; ) {
        unsigned char read[] = {0x00, 0xB0, (unsigned char) (offset >> 8),
                                (unsigned char) offset, 0xDF};
        got = transmit(read, sizeof read, response);
        unsigned sw = sw_of(response, got);
        if (sw != 0x9000 && sw != 0x6282)
            break;
        BUF_MEM_grow(out, offset + got - 2);
        memcpy(out->data + offset, response, got - 2);
        offset += got - 2;
        if (got - 2 < 0xDF || sw == 0x6282)
            break;
    }
    if (out->length == 0)
        fail("EF.CardAccess is empty");
    return out;
}

/* One PACE run; returns 1 when both tokens verified, 0 when the chip refused, -1 when it
 * refused and OpenPACE's DH shared secret K is shorter than p: OpenPACE drops K's leading zero
 * bytes before the key derivation, where the simulator (like PKCS #3 and RFC 2631) keeps K as
 * wide as p, so about one DH run in 256 derives other keys. */
static int pace(EAC_CTX *ctx, const PACE_SEC *secret, int password_ref)
{
    unsigned char mse[64], apdu[80], response[MAX_APDU];
    size_t mse_len = 0;
    unsigned sw;
    const ASN1_OBJECT *oid = OBJ_nid2obj(ctx->pace_ctx->protocol);
    int oid_len = OBJ_length(oid);
    mse[mse_len++] = 0x80;
    mse[mse_len++] = (unsigned char) oid_len;
    memcpy(mse + mse_len, OBJ_get0_data(oid), oid_len);
    mse_len += oid_len;
    mse[mse_len++] = 0x83;
    mse[mse_len++] = 0x01;
    mse[mse_len++] = (unsigned char) password_ref;
    if (ctx->pace_ctx->id >= 0 && ctx->pace_ctx->id < 32) {
        mse[mse_len++] = 0x84;
        mse[mse_len++] = 0x01;
        mse[mse_len++] = (unsigned char) ctx->pace_ctx->id;
    }
    unsigned char header[4] = {0x00, 0x22, 0xC1, 0xA4};
    size_t got = transmit(apdu, build_apdu(apdu, header, mse, mse_len, -1), response);
    if (sw_of(response, got) != 0x9000)
        fail("MSE:Set AT refused");

    BUF_MEM *nonce = general_authenticate(0, 0, NULL, &sw);
    if (!nonce || !PACE_STEP2_dec_nonce(ctx, secret, nonce))
        fail("no encrypted nonce");
    BUF_MEM *mapping = PACE_STEP3A_generate_mapping_data(ctx);
    if (!mapping)
        fail("OpenPACE: mapping data");
    BUF_MEM *chip_mapping = general_authenticate(0, 0x81, mapping, &sw);
    if (!chip_mapping)
        fail("chip refused the mapping data");
    note_leading_zero(chip_mapping);
    /* Integrated mapping: the chip answers an empty 82 and both sides map with the PCD's nonce. */
    const BUF_MEM *map_in = chip_mapping->length ? chip_mapping : mapping;
    if (!PACE_STEP3A_map_generator(ctx, map_in))
        fail("OpenPACE: mapping the generator");
    BUF_MEM *ephemeral = PACE_STEP3B_generate_ephemeral_key(ctx);
    if (!ephemeral)
        fail("OpenPACE: ephemeral key");
    note_leading_zero(ephemeral);
    BUF_MEM *chip_ephemeral = general_authenticate(0, 0x83, ephemeral, &sw);
    if (!chip_ephemeral)
        fail("chip refused the ephemeral key");
    note_leading_zero(chip_ephemeral);
    if (is_dh(ctx) &&
        ephemeral->length < (size_t) EVP_PKEY_size(ctx->pace_ctx->ka_ctx->key))
        narrow_terminal_values++;
    if (!PACE_STEP3B_compute_shared_secret(ctx, chip_ephemeral) || !PACE_STEP3C_derive_keys(ctx))
        fail("OpenPACE: key agreement");
    BUF_MEM *token = PACE_STEP3D_compute_authentication_token(ctx, chip_ephemeral);
    if (!token)
        fail("OpenPACE: authentication token");
    BUF_MEM *chip_token = general_authenticate(1, 0x85, token, &sw);
    int ok = 0;
    const BUF_MEM *shared = ctx->pace_ctx->ka_ctx->shared_secret;
    int narrow_k = is_dh(ctx) && shared &&
                   shared->length < (size_t) EVP_PKEY_size(ctx->pace_ctx->ka_ctx->key);
    if (!chip_token && narrow_k) {
        fprintf(stderr, "pace_pcd: chip refused the terminal's token (SW %04X) with OpenPACE's "
                        "K %zu bytes, narrower than p\n", sw, shared->length);
        ok = -1;
    } else if (!chip_token) {
        fprintf(stderr, "pace_pcd: chip refused the terminal's token (SW %04X)\n", sw);
        /* Widths of what went over the air and of OpenPACE's shared secret, with their first
         * bytes: where a DH value shorter than p came from. */
        fprintf(stderr,
                "pace_pcd: widths: terminal mapping %zu (%02X), chip mapping %zu (%02X), "
                "terminal key %zu (%02X), chip key %zu (%02X), shared secret %zu (%02X)\n",
                mapping->length, first(mapping), chip_mapping->length, first(chip_mapping),
                ephemeral->length, first(ephemeral), chip_ephemeral->length,
                first(chip_ephemeral), shared ? shared->length : 0, shared ? first(shared) : 0);
    } else if (PACE_STEP3D_verify_authentication_token(ctx, chip_token) != 1) {
        fprintf(stderr, "pace_pcd: the chip's token does not verify\n");
    } else {
        ok = 1;
    }
    BUF_MEM_free(nonce);
    BUF_MEM_free(mapping);
    BUF_MEM_free(chip_mapping);
    BUF_MEM_free(ephemeral);
    BUF_MEM_free(chip_ephemeral);
    BUF_MEM_free(token);
    if (chip_token)
        BUF_MEM_free(chip_token);
    return ok;
}

static BUF_MEM *buf(const unsigned char *data, size_t len)
{
    BUF_MEM *out = BUF_MEM_new();
    BUF_MEM_grow(out, len);
    memcpy(out->data, data, len);
    return out;
}

/* A command under OpenPACE's secure messaging (DO'87', DO'97', DO'8E'); returns the plain
 * response data length in `plain` and its status word. */
static unsigned protected_command(EAC_CTX *ctx, const unsigned char header[4],
                                  const unsigned char *data, size_t len, long le,
                                  unsigned char *plain, size_t *plain_len)
{
    unsigned char body[600], mac_input[700], apdu[700], response[MAX_APDU];
    size_t body_len = 0;
    unsigned char sm_header[4] = {header[0] | 0x0C, header[1], header[2], header[3]};
    if (!EAC_increment_ssc(ctx))
        fail("SSC");
    if (len) {
        BUF_MEM *in = buf(data, len), *padded = EAC_add_iso_pad(ctx, in);
        BUF_MEM *enc = EAC_encrypt(ctx, padded);
        if (!enc)
            fail("OpenPACE: encrypt");
        body[body_len++] = 0x87;
        body_len += put_length(body + body_len, enc->length + 1);
        body[body_len++] = 0x01;
        memcpy(body + body_len, enc->data, enc->length);
        body_len += enc->length;
        BUF_MEM_free(in);
        BUF_MEM_free(padded);
        BUF_MEM_free(enc);
    }
    if (le >= 0) {
        body[body_len++] = 0x97;
        body[body_len++] = 0x01;
        body[body_len++] = (unsigned char) le;
    }
    BUF_MEM *head = buf(sm_header, 4), *padded_head = EAC_add_iso_pad(ctx, head);
    memcpy(mac_input, padded_head->data, padded_head->length);
    memcpy(mac_input + padded_head->length, body, body_len);
    BUF_MEM *to_mac = buf(mac_input, padded_head->length + body_len);
    BUF_MEM *padded = EAC_add_iso_pad(ctx, to_mac);
    BUF_MEM *mac = EAC_authenticate(ctx, padded);
    if (!mac)
        fail("OpenPACE: MAC");
    body[body_len++] = 0x8E;
    body[body_len++] = (unsigned char) mac->length;
    memcpy(body + body_len, mac->data, mac->length);
    body_len += mac->length;
    BUF_MEM_free(head);
    BUF_MEM_free(padded_head);
    BUF_MEM_free(to_mac);
    BUF_MEM_free(padded);
    BUF_MEM_free(mac);

    size_t got = transmit(apdu, build_apdu(apdu, sm_header, body, body_len, 256), response);
    unsigned sw = sw_of(response, got);
    if (!EAC_increment_ssc(ctx))
        fail("SSC");
    size_t at = 0, end = got - 2, do87 = 0, do87_len = 0, mac_from = 0, mac_to = 0, mac_at = 0;
    while (at < end) {
        unsigned char tag = response[at];
        size_t object, skip = ber_length(response + at + 1, end - at - 1, &object);
        if (!skip || at + 1 + skip + object > end)
            fail("malformed protected response");
        if (tag == 0x87) {
            do87 = at + 1 + skip;
            do87_len = object;
        }
        if (tag == 0x8E) {
            mac_at = at + 1 + skip;
            mac_to = at;
        }
        at += 1 + skip + object;
    }
    if (!mac_at) {
        fprintf(stderr, "pace_pcd: unprotected answer SW %04X\n", sw);
        exit(1);
    }
    BUF_MEM *covered = buf(response + mac_from, mac_to - mac_from);
    BUF_MEM *padded_covered = EAC_add_iso_pad(ctx, covered);
    BUF_MEM *their_mac = buf(response + mac_at, 8);
    if (EAC_verify_authentication(ctx, padded_covered, their_mac) != 1)
        fail("the response MAC does not verify under OpenPACE's keys");
    BUF_MEM_free(covered);
    BUF_MEM_free(padded_covered);
    BUF_MEM_free(their_mac);
    *plain_len = 0;
    if (do87) {
        BUF_MEM *enc = buf(response + do87 + 1, do87_len - 1);
        BUF_MEM *dec = EAC_decrypt(ctx, enc);
        BUF_MEM *unpadded = dec ? EAC_remove_iso_pad(dec) : NULL;
        if (!unpadded)
            fail("OpenPACE: decrypt");
        if (unpadded->length > PLAIN_MAX)
            fail("protected response longer than asked for");
        memcpy(plain, unpadded->data, unpadded->length);
        *plain_len = unpadded->length;
        BUF_MEM_free(enc);
        BUF_MEM_free(dec);
        BUF_MEM_free(unpadded);
    }
    return sw;
}

/* SELECT of the eMRTD application and of `fid`, then the file, read in 223-byte chunks. */
static void read_file(EAC_CTX *ctx, unsigned fid)
{
    static const unsigned char aid[] = {0xA0, 0x00, 0x00, 0x02, 0x47, 0x10, 0x01};
    unsigned char plain[PLAIN_MAX], file[65536];
    size_t plain_len, total = 0, have = 0;
    const unsigned char select_app[4] = {0x00, 0xA4, 0x04, 0x0C};
    if (protected_command(ctx, select_app, aid, sizeof aid, -1, plain, &plain_len) != 0x9000)
        fail("SELECT eMRTD application refused");
    const unsigned char select_file[4] = {0x00, 0xA4, 0x02, 0x0C};
    unsigned char id[2] = {(unsigned char) (fid >> 8), (unsigned char) fid};
    if (protected_command(ctx, select_file, id, 2, -1, plain, &plain_len) != 0x9000)
        fail("SELECT file refused");
    do {
        size_t want = total ? total - have : 4;
        if (want > 0xDF)
            want = 0xDF;
        const unsigned char read[4] = {0x00, 0xB0, (unsigned char) (have >> 8),
                                       (unsigned char) have};
        unsigned sw = protected_command(ctx, read, NULL, 0, (long) want, plain, &plain_len);
        if ((sw != 0x9000 && sw != 0x6282) || plain_len == 0 || have + plain_len > sizeof file)
            fail("READ BINARY refused");
        memcpy(file + have, plain, plain_len);
        have += plain_len;
        if (!total) {
            size_t len, skip = ber_length(file + 1, have - 1, &len);
            if (!skip)
                fail("bad file header");
            total = 1 + skip + len;
        }
    } while (have < total);
    hex(stdout, file, total);
    putchar('\n');
}

int main(int argc, char **argv)
{
    if (argc < 4 || (strcmp(argv[2], "mrz") && strcmp(argv[2], "can")))
        fail("usage: pace_pcd READER (mrz MRZ-INFORMATION | can DIGITS) [FID-HEX] [RUNS]");
    unsigned fid = argc > 4 ? (unsigned) strtoul(argv[4], NULL, 16) : 0x0101;
    int runs = argc > 5 ? atoi(argv[5]) : 1;
    EAC_init();
    connect_card(argv[1]);
    BUF_MEM *card_access = read_card_access();
    PACE_SEC *secret;
    int password_ref, refusals = 0, narrow_k_refusals = 0;
    if (!strcmp(argv[2], "mrz")) {
        /* OpenPACE takes the MRZ of an ID card (TD1) and reads the document number at 5, the
         * date of birth at 30 and the date of expiry at 38, each with its check digit. */
        const char *info = argv[3];
        char td1[91];
        if (strlen(info) != 24)
            fail("MRZ information: 24 characters");
        memset(td1, '<', 90);
        td1[90] = 0;
        memcpy(td1, "I<UTO", 5);
        memcpy(td1 + 5, info, 10);
        memcpy(td1 + 30, info + 10, 7);
        memcpy(td1 + 38, info + 17, 7);
        secret = PACE_SEC_new(td1, 90, PACE_MRZ);
        password_ref = 1;
    } else {
        secret = PACE_SEC_new(argv[3], strlen(argv[3]), PACE_CAN);
        password_ref = 2;
    }
    if (!secret)
        fail("OpenPACE refused the password");
    for (int run = 0; run < runs; run++) {
        EAC_CTX *ctx = EAC_CTX_new();
        /* OpenPACE runs integrated mapping only as TR-03110 2.01 defines it. */
        if (ctx && getenv("PACE_PCD_TR_2_01"))
            ctx->tr_version = EAC_TR_VERSION_2_01;
        if (!ctx || !EAC_CTX_init_ef_cardaccess((unsigned char *) card_access->data,
                                                card_access->length, ctx))
            fail("OpenPACE cannot use this EF.CardAccess");
        if (runs == 1)
            fprintf(stderr, "pace_pcd: %s, parameter %d\n", OBJ_nid2sn(ctx->pace_ctx->protocol),
                    ctx->pace_ctx->id);
        int done = pace(ctx, secret, password_ref);
        if (done != 1) {
            EAC_CTX_clear_free(ctx);
            if (done == 0)
                refusals++;
            else
                narrow_k_refusals++;
            if (runs == 1 || run + 1 == runs)
                return done == 0 ? 2 : 3;
            continue;
        }
        if (run + 1 == runs) {
            if (!EAC_CTX_set_encryption_ctx(ctx, EAC_ID_PACE))
                fail("OpenPACE: secure messaging context");
            read_file(ctx, fid);
        }
        EAC_CTX_clear_free(ctx);
    }
    if (runs > 1)
        fprintf(stderr,
                "pace_pcd: %d runs, %d refused, %d refused with OpenPACE's K narrower than p, "
                "%d chip values with a leading zero byte, %d terminal keys narrower than p\n",
                runs, refusals, narrow_k_refusals, leading_zero_values, narrow_terminal_values);
    PACE_SEC_clear_free(secret);
    BUF_MEM_free(card_access);
    SCardDisconnect(card, SCARD_RESET_CARD);
    SCardReleaseContext(context);
    EAC_cleanup();
    return 0;
}
