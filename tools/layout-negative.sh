#!/usr/bin/env bash
# Shows that the compile-time ABI proof (src/abi/layout.rs) can fail: in a scratch copy of the
# crate, each case below breaks one hand-written declaration and the Windows-target check must
# then fail with the expected message. Run after tools/cross-build.sh has proved the real tree.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export PATH=/usr/lib/llvm-19/bin:/usr/bin:$PATH RUSTC=/usr/bin/rustc CARGO=/usr/bin/cargo RUSTC_BOOTSTRAP=1
export LIBCLANG_PATH=/usr/lib/llvm-19/lib CARGO_TARGET_DIR=$root/target/cross/negative
unset RUSTFLAGS

# case: file | text to replace | replacement | message the build must print
cases=(
  "src/abi/ks.rs|    pub DataFlow: KSPIN_DATAFLOW,\n    pub Communication: KSPIN_COMMUNICATION,|    pub Communication: KSPIN_COMMUNICATION,\n    pub DataFlow: KSPIN_DATAFLOW,|KSPIN_DESCRIPTOR::DataFlow: offset differs from the header"
  "src/abi/mxf.rs|        fn ConnectOutput(sinkMXF: PMXF) -> NTSTATUS;\n        fn DisconnectOutput(sinkMXF: PMXF) -> NTSTATUS;\n    }|        fn DisconnectOutput(sinkMXF: PMXF) -> NTSTATUS;\n        fn ConnectOutput(sinkMXF: PMXF) -> NTSTATUS;\n    }|IAllocatorMXFVtbl::DisconnectOutput: offset differs from the header"
  "src/abi/mxf.rs|        fn GetBufferSize() -> u16;\n|\n|IAllocatorMXFVtbl: size differs from the header"
  "src/abi/guid.rs|KSCATEGORY_RENDER = 0x65e8773e|KSCATEGORY_RENDER = 0x65e8773f|evaluation panicked: KSCATEGORY_RENDER"
  "src/abi/status.rs|STATUS_NOINTERFACE = 0xC000_02B9|STATUS_NOINTERFACE = 0xC000_02BA|evaluation panicked: STATUS_NOINTERFACE"
  "src/abi/event.rs|    pub usChannelGroup: u16,\n    pub usFlags: u16,|    pub usFlags: u16,\n    pub usChannelGroup: u16,|DMUS_KERNEL_EVENT::usChannelGroup: offset differs from the header"
  "src/abi/pc.rs|    pub MinFilterInstanceCount: u32,\n|    pub MinFilterInstanceCount: u64,\n|PCPIN_DESCRIPTOR::MinFilterInstanceCount: size differs from the header"
  "src/abi/stream.rs|KSSTATE_PAUSE: KSSTATE = 2|KSSTATE_PAUSE: KSSTATE = 4|KSSTATE_PAUSE: value differs from the header"
)
failures=0
for case in "${cases[@]}"; do
  IFS='|' read -r file from to expect <<<"$case"
  rm -rf "$scratch/crate" && mkdir "$scratch/crate"
  cp -r "$root/Cargo.toml" "$root/Cargo.lock" "$root/build.rs" "$root/build" "$root/src" "$root/macros" "$scratch/crate/"
  # A standalone package (with its path dependency macros/): drop the workspace table so the
  # members need not be copied.
  python3 - "$scratch/crate" "$file" "$from" "$to" <<'PY'
import sys, re
crate, file, old, new = sys.argv[1:5]
old, new = old.replace("\\n", "\n"), new.replace("\\n", "\n")
toml = open(f"{crate}/Cargo.toml").read()
toml = re.sub(r"\[workspace\]\n(.*?\n)\n", "[workspace]\n\n", toml, flags=re.S)
# The benches are not copied: drop their targets.
toml = re.sub(r"\n\[\[bench\]\]\n(?:[^\[\n][^\n]*\n)*", "\n", toml)
# Nor is the test kit (a dev-dependency by path, which cargo would load even for --lib).
toml = re.sub(r"^dmus-testkit = .*\n", "", toml, flags=re.M)
toml = toml.replace(".workspace = true", " = \"2024\"").replace("license = \"2024\"", "license = \"MIT OR Apache-2.0\"").replace("publish = \"2024\"", "publish = false")
open(f"{crate}/Cargo.toml", "w").write(toml)
text = open(f"{crate}/{file}").read()
if old not in text:
    sys.exit(f"layout-negative: the text to break is no longer in {file}")
open(f"{crate}/{file}", "w").write(text.replace(old, new, 1))
PY
  if out=$(cd "$scratch/crate" && /usr/bin/cargo check -q --lib --features cross --target x86_64-pc-windows-msvc -Zbuild-std=core,alloc --config 'profile.dev.panic="abort"' 2>&1); then
    echo "FAIL: $file: the broken declaration compiled ($expect)"; failures=$((failures + 1))
  elif grep -qF "$expect" <<<"$out"; then
    echo "ok: $expect"
  else
    echo "FAIL: $file: the build failed without '$expect':"; echo "$out" | grep -E '^error' | head -5
    failures=$((failures + 1))
  fi
done
[ "$failures" -eq 0 ] || { echo "layout-negative: $failures case(s) not caught"; exit 1; }
echo "layout-negative: all ${#cases[@]} broken declarations were caught"
