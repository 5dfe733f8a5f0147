"""The schemes' shared pieces moved to ``gradent.lib.signatures.base``; this name stays for
the modules that import it from here."""

from gradent.lib.signatures.base import REASONS, SignatureError, SignatureScheme, Verified

__all__ = ["REASONS", "SignatureError", "SignatureScheme", "Verified"]
