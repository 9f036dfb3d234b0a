# The package's version: the Swift library's (PlaidVersion.string); a test checks they agree.
__version__ = "0.2.0"
