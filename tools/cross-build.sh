#!/usr/bin/env bash
# Cross-builds dmus_miniport.sys for x86_64-pc-windows-msvc on a Linux host, with Debian's
# rustc-web (which knows the target and ships the standard library's sources for -Zbuild-std)
# and lld-link, from import libraries made out of imports/*.def (the list of kernel functions
# the driver may import). See docs/cross-build.md for the recipe and why.
#
#   tools/cross-build.sh [--debug]
#
# Output: target/cross/dmus_miniport.sys, its link map (dmus_miniport.map) and PDB. The image is
# then checked (tools/image-check: form, imports against imports/*.def, no __chkstk); a bad image
# fails the build.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
profile=release
[ "${1:-}" = "--debug" ] && profile=dev
target=x86_64-pc-windows-msvc
out=$root/target/cross
mkdir -p "$out/lib"

need=()
for tool in /usr/bin/rustc /usr/bin/cargo lld-link-19 llvm-dlltool-19; do
  command -v "$tool" >/dev/null || need+=("$tool")
done
[ -d /usr/lib/rustlib/src/rust/library ] || need+=(rust-web-src)
[ -f /usr/share/mingw-w64/include/ddk/dmusicks.h ] || need+=(mingw-w64-x86-64-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "cross-build: missing ${need[*]}; install with:" >&2
  echo "  apt-get install -y rustc-web rust-web-src cargo-web lld-19 llvm-19 clang-19 libclang-19-dev mingw-w64-x86-64-dev" >&2
  exit 1
fi

# The image check is a host tool: built with the caller's cargo, before PATH changes.
host_cargo=$(command -v cargo)
# Debian's toolchain, not rustup's: only it has the target and the std sources.
export PATH=/usr/lib/llvm-19/bin:/usr/bin:$PATH
export RUSTC=/usr/bin/rustc CARGO=/usr/bin/cargo RUSTC_BOOTSTRAP=1
export LIBCLANG_PATH=/usr/lib/llvm-19/lib
# A target dir of its own: rustup's and Debian's compilers must not share artifacts.
export CARGO_TARGET_DIR=$out/cargo
unset RUSTFLAGS CARGO_BUILD_RUSTFLAGS

libs=()
for def in "$root"/imports/*.def; do
  name=$(basename "$def" .def)
  llvm-dlltool-19 -m i386:x86-64 -d "$def" -l "$out/lib/$name.lib"
  libs+=("-Clink-arg=$name.lib")
done

link_args=(
  -Clink-arg=/DRIVER:WDM
  -Clink-arg=/SUBSYSTEM:NATIVE,10.0
  -Clink-arg=/ENTRY:DriverEntry
  -Clink-arg=/NODEFAULTLIB
  -Clink-arg=/OPT:REF
  -Clink-arg=/OPT:ICF
  -Clink-arg=/RELEASE
  "-Clink-arg=/MAP:$out/dmus_miniport.map"
  "-Clink-arg=/LIBPATH:$out/lib"
  "${libs[@]}"
)
export CARGO_TARGET_X86_64_PC_WINDOWS_MSVC_LINKER=lld-link-19
export CARGO_TARGET_X86_64_PC_WINDOWS_MSVC_RUSTFLAGS="-Dwarnings ${link_args[*]}"

cd "$root"
/usr/bin/cargo build -p dmus-miniport --lib --features cross --profile "$profile" \
  --target "$target" -Zbuild-std=core,alloc -Zbuild-std-features=compiler-builtins-mem \
  --config 'profile.dev.package.compiler_builtins.opt-level=3' \
  --config 'profile.dev.panic="abort"'

dir=$CARGO_TARGET_DIR/$target/$([ "$profile" = dev ] && echo debug || echo release)
cp "$dir/dmus_miniport.dll" "$out/dmus_miniport.sys"
cp "$dir/dmus_miniport.pdb" "$out/dmus_miniport.pdb" 2>/dev/null || true
echo "cross-build: $out/dmus_miniport.sys ($(stat -c %s "$out/dmus_miniport.sys") bytes)"

defs=()
for def in "$root"/imports/*.def; do defs+=(--def "$def"); done
env -u CARGO_TARGET_DIR -u RUSTC -u RUSTC_BOOTSTRAP PATH="$(dirname "$host_cargo"):$PATH" \
  "$host_cargo" run -q --locked -p image-check -- "${defs[@]}" \
  --map "$out/dmus_miniport.map" "$out/dmus_miniport.sys"
