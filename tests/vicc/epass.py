#!/usr/bin/python3
"""Serves Debian's vicc ePass emulator (python3-virtualsmartcard) to a vpcd reader in reversed
mode, as an independent BAC + secure-messaging chip for tests/chip_pcsc.rs.

Usage: epass.py PORT DIR. Listens on 127.0.0.1:PORT only (vicc's own reversed mode looks up a
public address first), accepts one vpcd connection and answers it with an ePass whose files are
DIR/EF.COM, DIR/EF.SOD, DIR/DG1 and DIR/DG2 (raw, with their outer tags; DG1 holds a TD3 MRZ).

vicc 3.3 was written for Python 2; the fixes below patch its Python 3 bugs at run time, each
checked to apply so that a changed package fails loudly rather than quietly:
- its modules live outside sys.path and import `Crypto`, which Debian ships as `Cryptodome`;
- the ePass card generator prompts with `raw_input`: the card is built here instead;
- TLV encoding, the BAC session key seed and secure messaging (command parsing, response
  protection, padding indicator) mix str and bytes, and the send sequence counter loses its
  leading zero bytes in the MAC input (one session in 256 would fail);
- the SAM answers any failure in secure messaging as 6988 without a trace: it prints the cause.
"""

import os
import socket
import struct
import sys

sys.path.insert(0, "/usr/lib/python3/site-packages/virtualsmartcard")

import Cryptodome  # noqa: E402  (Debian's pycryptodome under its own name)
import Cryptodome.Cipher  # noqa: E402
import Cryptodome.Hash  # noqa: E402
import Cryptodome.PublicKey  # noqa: E402
import Cryptodome.Util  # noqa: E402

for name in ("", ".Cipher", ".Hash", ".PublicKey", ".Util"):
    sys.modules["Crypto" + name] = sys.modules["Cryptodome" + name]


def patch_module(module, replacements):
    """Re-executes `module`'s source with every (old, new) text replacement applied."""
    path = module.__file__
    with open(path, encoding="utf-8") as source:
        text = source.read()
    for old, new in replacements:
        if text.count(old) < 1:
            sys.exit(f"epass.py: {path} no longer contains {old!r}; update the launcher")
        text = text.replace(old, new)
    exec(compile(text, path, "exec"), module.__dict__)


import virtualsmartcard.TLVutils as tlv_utils  # noqa: E402

# Patched first, as the other modules import its functions by name: TLV encoding joins a
# bytes object as if it were a list of parts.
patch_module(tlv_utils, [("    return b\"\".join(result)\n", "    return result\n")])

import virtualsmartcard.CryptoUtils as crypto_utils  # noqa: E402
import virtualsmartcard.SEutils as se_utils  # noqa: E402

patch_module(
    crypto_utils,
    [
        # The SSC is 8 bytes whatever its value.
        ("data = inttostring(ssc) + data", "data = inttostring(ssc, 8) + data"),
        # BAC's key seed is the XOR of two byte strings.
        (
            'result.append(chr(op(ord(string1[i]), ord(string2[i]))))\n    return "".join(result)',
            "result.append(op(string1[i], string2[i]))\n    return bytes(result)",
        ),
    ],
)
patch_module(
    se_utils,
    [
        ('return_data = ["", ]', 'return_data = [b"", ]'),
        ('to_authenticate = ""', 'to_authenticate = b""'),
        ('data="".join(return_data)', 'data=b"".join(return_data)'),
        ("padding_indicator = stringtoint(value[0])", "padding_indicator = value[0]"),
        ('return_data = ""', 'return_data = b""'),
        ('if result != "":', 'if result != b"":'),
        ('encrypted = "\\x01" + encrypted', 'encrypted = b"\\x01" + encrypted'),
    ],
)

import virtualsmartcard.SmartcardSAM as sam  # noqa: E402

patch_module(
    sam,
    [
        # The SAM answers every failure in secure messaging as 6988: print the cause first.
        (
            '        except:\n            raise SwError(SW["ERR_SECMESSOBJECTSINCORRECT"])',
            "        except Exception:\n            traceback.print_exc()\n"
            '            raise SwError(SW["ERR_SECMESSOBJECTSINCORRECT"])',
        ),
        ("from os import urandom\n", "from os import urandom\nimport traceback\n"),
    ],
)

import virtualsmartcard.cards.ePass as epass  # noqa: E402

from virtualsmartcard.SmartcardFilesystem import DF, MF, TransparentStructureEF  # noqa: E402
from virtualsmartcard.VirtualSmartcard import Iso7816OS  # noqa: E402

EMRTD_AID = bytes.fromhex("A0000002471001")
FILES = {"EF.COM": 0x011E, "DG1": 0x0101, "DG2": 0x0102, "EF.SOD": 0x011D}


def card(directory):
    """The ePass's file system and BAC-capable SAM, holding the files found in `directory`."""
    mf = MF()
    application = DF(parent=mf, fid=4, dfname=EMRTD_AID, bertlv_data=[])
    for name, fid in FILES.items():
        path = os.path.join(directory, name)
        if os.path.exists(path):
            with open(path, "rb") as file:
                data = file.read()
            application.append(
                TransparentStructureEF(parent=application, fid=fid, filedescriptor=0, data=data)
            )
    mf.append(application)
    return Iso7816OS(mf, epass.PassportSAM(mf))


def receive(stream, size):
    data = b""
    while len(data) < size:
        part = stream.recv(size - len(data))
        if not part:
            return None
        data += part
    return data


def serve(os_, stream):
    """vpcd's protocol: 2-byte length, then a control byte or a C-APDU."""
    while True:
        header = receive(stream, 2)
        if header is None:
            return
        (size,) = struct.unpack("!H", header)
        message = receive(stream, size)
        if message is None:
            return
        if size == 1:
            if message == b"\x00":
                os_.powerDown()
            elif message in (b"\x01", b"\x02"):
                os_.reset()
            elif message == b"\x04":
                atr = os_.getATR()
                stream.sendall(struct.pack("!H", len(atr)) + atr)
            continue
        answer = os_.execute(message)
        stream.sendall(struct.pack("!H", len(answer)) + answer)


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    emulated = card(directory)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(1)
    print("listening", flush=True)
    while True:
        stream, _ = listener.accept()
        with stream:
            serve(emulated, stream)


if __name__ == "__main__":
    main()
