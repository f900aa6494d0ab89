#!/usr/bin/env python3
"""Compare checkpointd's QR image decoder with zxing-cpp and zbar on the same images.

Sets: a generated set of distorted images (written by `benches/qr_decode.rs` in QR_BENCH_GENERATE
mode, >= 200 images) and every folder of the public corpus (default ../shared/qr-corpus).
Per set and decoder it prints passes (the exact expected payload) and two median times per image
(best of 3 runs per image, one thread, files already read into memory):

- `file`: from the image file's bytes to decoded texts, each decoder doing its own work: image
  decoding and grey conversion included. checkpointd: `decode_image_bytes_with` (its own PNG/JPEG/
  WebP/BMP decoding and grey conversion). zxing-cpp and zbar: Pillow's `Image.open` + `convert("L")`,
  then the decoder (Pillow is what a Python caller of these libraries would use).
- `decode`: decode only, from an already-decoded grey pixel buffer: checkpointd's own grey pixels
  into `decode_image_with`, Pillow's grey pixels into `zxingcpp.read_barcodes` and `pyzbar.decode`.

Passes are counted on the `file` run's result (the grey pixels are the same in both runs).
After the sets come two summary rows: `corpus` (every corpus folder) and `all` (corpus + generated).
The last column divides checkpointd's median times by zxing-cpp's (issue #4's target: at most 2x).

Needs: pip install zxing-cpp pyzbar pillow numpy; apt install libzbar0.
Run from the repository root:  python3 benches/qr_compare.py [--corpus DIR] [--generated DIR] [--dev]
"""

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy
import zxingcpp
from PIL import Image
from pyzbar import pyzbar

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"}
RUNS = 3
CHARSETS = ["utf-8", "latin-1", "shift_jis", "gb18030", "cp1252", "iso-8859-2", "iso-8859-5"]


def expected_for(image: Path):
    """(bytes or None, text or None) expected for an image, or None when the corpus has none."""
    # Names such as `module-1.5px-p0.png` hold dots, so build the sibling names from the stem.
    binary = image.parent / f"{image.stem}.bin"
    text = image.parent / f"{image.stem}.txt"
    if binary.exists():
        return binary.read_bytes(), None
    if text.exists():
        return None, text.read_text(encoding="utf-8", errors="replace")
    return None


def matches(expected, data: bytes = None, text: str = None) -> bool:
    want_bytes, want_text = expected
    if want_bytes is not None:
        return data == want_bytes
    if text is not None and text == want_text:
        return True
    if data is not None:
        if data == want_text.encode("utf-8"):
            return True
        for charset in CHARSETS:
            try:
                if data.decode(charset) == want_text:
                    return True
            except (UnicodeDecodeError, LookupError):
                pass
    return False


def time_best(fn):
    best, result = float("inf"), None
    for _ in range(RUNS):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best * 1e3, result


def pillow_grey(data: bytes):
    """Decodes an image file's bytes with Pillow and converts it to 8-bit grey."""
    return Image.open(io.BytesIO(data)).convert("L")


def run_zxingcpp(images):
    """path -> (file ms, decode ms, passed)."""
    qr = zxingcpp.BarcodeFormat.QRCode
    out = {}
    for path, expected in images:
        data = path.read_bytes()
        file_ms, found = time_best(lambda: zxingcpp.read_barcodes(numpy.asarray(pillow_grey(data)), formats=qr))
        grey = numpy.asarray(pillow_grey(data))
        decode_ms, _ = time_best(lambda: zxingcpp.read_barcodes(grey, formats=qr))
        out[path] = (file_ms, decode_ms, any(matches(expected, bytes(r.bytes), r.text) for r in found))
    return out


def run_zbar(images):
    """path -> (file ms, decode ms, passed)."""
    qr = [pyzbar.ZBarSymbol.QRCODE]
    out = {}
    for path, expected in images:
        data = path.read_bytes()
        file_ms, found = time_best(lambda: pyzbar.decode(pillow_grey(data), symbols=qr))
        grey = pillow_grey(data)
        pixels = (grey.tobytes(), grey.width, grey.height)
        decode_ms, _ = time_best(lambda: pyzbar.decode(pixels, symbols=qr))
        out[path] = (file_ms, decode_ms, any(matches(expected, r.data, None) for r in found))
    return out


def run_ours(images, cargo_args):
    with tempfile.NamedTemporaryFile("w", suffix=".list", delete=False) as listing:
        listing.write("\n".join(str(path) for path, _ in images) + "\n")
    env = dict(os.environ, QR_BENCH_FILES=listing.name)
    proc = subprocess.run(cargo_args, env=env, capture_output=True, text=True)
    os.unlink(listing.name)
    if proc.returncode != 0:
        sys.exit(f"our decoder failed:\n{proc.stderr[-3000:]}")
    by_path = dict(images)
    out = {}
    for line in proc.stdout.splitlines():
        fields = line.split("\t")
        if len(fields) < 4 or Path(fields[0]) not in by_path:
            continue
        path = Path(fields[0])
        file_ms, decode_ms = (float(f) if float(f) >= 0 else float("nan") for f in fields[1:3])
        codes = [] if fields[3] == "-" else [bytes.fromhex(h) for h in fields[3].split(",")]
        out[path] = (file_ms, decode_ms, any(matches(by_path[path], c, None) for c in codes))
    return out


def collect(folder: Path):
    images = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in IMAGE_EXTS:
            expected = expected_for(path)
            if expected is not None:
                images.append((path, expected))
    return images


def main():
    root = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # The corpus sits beside the main checkout (../shared/qr-corpus) or beside the worktree folder.
    corpus = next((c for c in (root.parent / "shared" / "qr-corpus", root.parent.parent / "shared" / "qr-corpus") if c.is_dir()), None)
    parser.add_argument("--corpus", type=Path, default=corpus)
    parser.add_argument("--generated", type=Path, help="reuse a generated set instead of writing a new one")
    parser.add_argument("--dev", action="store_true", help="time a dev build (opt-level 2 deps) instead of the bench profile")
    parser.add_argument("--exe", help="an already built qr_decode bench executable (skips the cargo build)")
    args = parser.parse_args()

    # `cargo bench` builds with the bench profile (release optimisation; panics unwind, so the
    # decoder chain's catch_unwind works); `--dev` uses the dev profile (deps at opt-level 2).
    command = ["cargo", "build", "--bench", "qr_decode"] if args.dev else ["cargo", "bench", "--bench", "qr_decode", "--no-run"]
    exe = args.exe or find_bench_exe(root, command)

    generated = args.generated
    if generated is None:
        generated = Path(tempfile.mkdtemp(prefix="qr-generated-"))
        subprocess.run([exe], env=dict(os.environ, QR_BENCH_GENERATE=str(generated)), check=True)

    sets = [("generated", collect(generated))]
    if args.corpus is not None and args.corpus.is_dir():
        sets += [(folder.name, collect(folder)) for folder in sorted(args.corpus.iterdir()) if folder.is_dir()]

    decoders = ["checkpointd", "zxing-cpp", "zbar"]
    cell_width = 29
    header = (f"{'set':<20} {'n':>4}  " + "  ".join(f"{d + ' pass  file/decode ms':>{cell_width}}" for d in decoders)
              + "  ours/zxing-cpp file/decode")
    print(header)
    print("-" * len(header))
    per_set = {d: {} for d in decoders}

    def median(times):
        return statistics.median(times) if times else float("nan")

    def cell(passes, count, file_times, decode_times):
        return f"{passes:>4}/{count:<4} {median(file_times):>8.2f} {median(decode_times):>8.2f} ms"

    def ratios(rows_by_decoder):
        """checkpointd's median times over zxing-cpp's (the issue's target: at most 2x)."""
        ours, theirs = rows_by_decoder["checkpointd"], rows_by_decoder["zxing-cpp"]
        out = []
        for column in (0, 1):
            a = median([r[column] for r in ours if r[column] == r[column]])
            b = median([r[column] for r in theirs if r[column] == r[column]])
            out.append(a / b if b else float("nan"))
        return f"  {out[0]:>13.2f}x {out[1]:>5.2f}x"

    for name, images in sets:
        if not images:
            continue
        results = {
            "checkpointd": run_ours(images, [exe]),
            "zxing-cpp": run_zxingcpp(images),
            "zbar": run_zbar(images),
        }
        cells = []
        for decoder in decoders:
            rows = [results[decoder][p] for p, _ in images if p in results[decoder]]
            passes = sum(1 for _, _, ok in rows if ok)
            file_times = [f for f, _, _ in rows if f == f]
            decode_times = [d for _, d, _ in rows if d == d]
            per_set[decoder][name] = rows
            cells.append(cell(passes, len(images), file_times, decode_times))
        print(f"{name:<20} {len(images):>4}  " + "  ".join(f"{c:>{cell_width}}" for c in cells)
              + ratios({d: per_set[d][name] for d in decoders}), flush=True)
    print("-" * len(header))
    # Corpus only, then everything (the generated set included).
    for label, names in (("corpus", [n for n, _ in sets if n != "generated"]), ("all", [n for n, _ in sets])):
        count = sum(len(images) for n, images in sets if n in names)
        cells = []
        summary = {}
        for decoder in decoders:
            rows = [r for n, _ in sets if n in names for r in per_set[decoder].get(n, [])]
            summary[decoder] = rows
            cells.append(cell(sum(1 for _, _, ok in rows if ok), count,
                              [f for f, _, _ in rows if f == f], [d for _, d, _ in rows if d == d]))
        print(f"{label:<20} {count:>4}  " + "  ".join(f"{c:>{cell_width}}" for c in cells) + ratios(summary))


def find_bench_exe(root, command):
    """Builds the qr_decode bench executable and returns its path."""
    proc = subprocess.run(
        [*command, "--message-format=json"],
        cwd=root, check=True, capture_output=True, text=True,
    )
    for line in proc.stdout.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if message.get("reason") == "compiler-artifact" and message.get("target", {}).get("name") == "qr_decode":
            if message.get("executable"):
                return message["executable"]
    sys.exit("cannot find the qr_decode bench executable")


if __name__ == "__main__":
    main()
