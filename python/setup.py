"""Builds plaid's C library (the Swift package one folder up, product PlaidC) into the package.

The library is linked with the Swift runtime inside it (`-static-stdlib`), so an installed
plaid needs no Swift toolchain at run time, only the Debian libraries `scripts/setup.sh`
installs (OpenBLAS, zstd, SQLite). Building needs `swift` on the PATH. PLAID_SWIFT_SCRATCH
names the build folder (default: .build/python in the repository, kept apart from the
command-line build so neither rebuilds the other)."""

import os
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
REPOSITORY = os.path.dirname(HERE)
LIBRARY = "libPlaidC.so"


class BuildWithSwiftLibrary(build_py):
    def run(self):
        super().run()
        if not os.path.exists(os.path.join(REPOSITORY, "Package.swift")):
            raise RuntimeError(f"the plaid Swift package is not at {REPOSITORY}; install from the plaid repository (pip install ./python)")
        scratch = os.environ.get("PLAID_SWIFT_SCRATCH", os.path.join(REPOSITORY, ".build", "python"))
        command = ["swift", "build", "-c", "release", "--product", "PlaidC", "--scratch-path", scratch,
                   "-Xswiftc", "-static-stdlib"]
        print("building plaid's library:", " ".join(command), flush=True)
        subprocess.run(command, cwd=REPOSITORY, check=True)
        built = os.path.join(scratch, "release", LIBRARY)
        target = os.path.join(self.build_lib, "plaid", LIBRARY)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(built, target)
        os.chmod(target, 0o755)


try:
    from wheel.bdist_wheel import bdist_wheel

    class PlatformWheel(bdist_wheel):
        # The wheel holds a native library: tag it for this platform, not as pure Python.
        def finalize_options(self):
            super().finalize_options()
            self.root_is_pure = False

    commands = {"build_py": BuildWithSwiftLibrary, "bdist_wheel": PlatformWheel}
except ImportError:
    commands = {"build_py": BuildWithSwiftLibrary}

setup(cmdclass=commands)
