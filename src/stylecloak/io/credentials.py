"""Content Credentials (C2PA): a signed, tamper-evident "do not train" statement inside a protected file.

:func:`sign` embeds a C2PA manifest with a ``c2pa.opened`` action on the original (recorded as an ingredient
without a thumbnail, under a neutral title) and the CAWG ``cawg.training-mining`` assertion saying
``notAllowed`` for AI training, generative AI training, data mining and AI inference. It runs after every
other piece of metadata is written, because a C2PA manifest hashes the finished file. :func:`read` reads a
file's manifest back and validates it. Signing needs a certificate: the artist's own
(:class:`Identity` from PEM files) or a local self-signed one that :func:`local_identity` makes once in the
user's config folder; readers then report it as valid but untrusted (it is in no public trust list).
Needs the ``c2pa`` extra (``pip install 'stylecloak[c2pa]'``).

>>> sign(Path("protected/piece.png"), Path("art/piece.png"), local_identity())
>>> read(Path("protected/piece.png")).training_mining["cawg.ai_training"]
'notAllowed'
"""

from __future__ import annotations

import datetime
import mimetypes
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from platformdirs import user_config_dir

from ..errors import ConfigError, ImageError
from ..version import __version__
from .atomic import atomic_file

TRAINING_MINING = ("cawg.ai_training", "cawg.ai_generative_training", "cawg.data_mining", "cawg.ai_inference")
"""The CAWG training-and-data-mining entries a protected file marks ``notAllowed``."""

UNTRUSTED = "signingCredential.untrusted"
"""Reported for a certificate in no trust list (a local one): the signature holds, the signer is unvouched for."""
DIGITAL_CREATION = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCreation"
INSTALL_HINT = "Content Credentials need the c2pa extra: pip install 'stylecloak[c2pa]'"


@dataclass(frozen=True)
class Identity:
    """A signing certificate chain (PEM, the signer's certificate first) and its private key (PEM), EC P-256."""

    certificate: Path
    key: Path

    def __post_init__(self) -> None:
        for path in (self.certificate, self.key):
            if not Path(path).is_file():
                raise ConfigError(f"{path}: certificate or key file not found; pass existing PEM files to --c2pa-cert and --c2pa-key")


@dataclass(frozen=True)
class Credentials:
    """What :func:`read` found in a file."""

    state: str
    """``Valid``, ``Trusted`` or ``Invalid`` (C2PA's validation state), or ``none`` when the file has no manifest."""
    signer: str = ""
    training_mining: dict[str, str] = field(default_factory=dict)
    """CAWG entry → ``use`` (e.g. ``notAllowed``)."""
    failures: tuple[str, ...] = ()
    """Validation failure codes with their explanations (empty when valid)."""
    notes: tuple[str, ...] = ()
    """Informational codes, e.g. ``signingCredential.untrusted`` for a local certificate."""

    @property
    def valid(self) -> bool:
        return self.state in ("Valid", "Trusted")


def require_c2pa() -> Any:
    try:
        import c2pa
    except ImportError as exc:
        raise ConfigError(INSTALL_HINT) from exc
    return c2pa


def local_identity(folder: Path | None = None) -> Identity:
    """The local signing identity in ``folder`` (default: the user config folder), made on first use.

    A small private certificate authority and a signing certificate under it, both for "stylecloak local
    signer"; the key is readable by the user only. Made with the ``cryptography`` package (a dependency of the
    ``c2pa`` extra)."""
    folder = Path(folder) if folder else Path(user_config_dir("stylecloak")) / "c2pa"
    certificate, key_file = folder / "local-chain.pem", folder / "local-key.pem"
    if not (certificate.is_file() and key_file.is_file()):
        chain, key = _self_signed_chain()
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(folder, 0o700)  # the key is private: nobody else may list or read the folder
        with atomic_file(key_file) as f:
            f.write(key)
        os.chmod(key_file, 0o600)
        with atomic_file(certificate) as f:
            f.write(chain)
    return Identity(certificate, key_file)


def _self_signed_chain() -> tuple[bytes, bytes]:
    """A CA certificate and an end-entity signing certificate (what C2PA signers require), and the signer's key."""
    require_c2pa()
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "stylecloak local signer")])

    def usage(sign: bool) -> x509.KeyUsage:
        flags = dict.fromkeys(("content_commitment", "key_encipherment", "data_encipherment", "key_agreement", "encipher_only", "decipher_only"), False)
        return x509.KeyUsage(digital_signature=sign, key_cert_sign=not sign, crl_sign=not sign, **flags)

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    def certificate(subject: str, issuer: x509.Name, public: Any, is_ca: bool) -> x509.CertificateBuilder:
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(issuer)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=is_ca, path_length=0 if is_ca else None), critical=True)
            .add_extension(usage(sign=not is_ca), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        )
        return builder

    ca = certificate("stylecloak local CA", name("stylecloak local CA"), ca_key.public_key(), True).sign(ca_key, hashes.SHA256())
    leaf = (
        certificate("stylecloak local signer", ca.subject, key.public_key(), False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return leaf.public_bytes(pem) + ca.public_bytes(pem), key_pem


def manifest(version: str, opened: bool = True) -> dict[str, Any]:
    """The manifest definition :func:`sign` embeds: the original ``opened`` as the ingredient ``original`` (or,
    for an image that never was a file, ``created`` as a digital creation)."""
    action = (
        {"action": "c2pa.opened", "parameters": {"ingredientIds": ["original"]}}
        if opened
        else {"action": "c2pa.created", "digitalSourceType": DIGITAL_CREATION}
    )
    return {
        "claim_generator_info": [{"name": "stylecloak", "version": version}],
        "title": "protected artwork",
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": [action]}},
            {"label": "cawg.training-mining", "data": {"entries": {entry: {"use": "notAllowed"} for entry in TRAINING_MINING}}},
        ],
    }


def sign(path: Path, original: Path | None, identity: Identity) -> None:
    """Embed the signed manifest into the finished file ``path`` (replaced atomically); ``original`` is the input
    file it was made from (None: an image that never was a file). An unsupported format or a certificate the
    signer refuses raises a one-line error."""
    c2pa = require_c2pa()

    path = Path(path)
    fmt = _mime(path)
    try:
        signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, identity.certificate.read_bytes(), identity.key.read_bytes(), None))
        context = c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}}})
        builder = c2pa.Builder(manifest(__version__, opened=original is not None), context=context)
        if original is not None:
            with open(original, "rb") as src:
                builder.add_ingredient({"title": "original", "relationship": "parentOf", "label": "original"}, _mime(Path(original)), src)
        with open(path, "rb") as unsigned, atomic_file(path) as out:
            builder.sign(signer, fmt, unsigned, out)
    except c2pa.C2paError as exc:
        raise ImageError(
            f"{path}: Content Credentials could not be signed ({_one_line(exc)}); check the certificate and key (EC P-256, PEM) or drop --c2pa"
        ) from exc


def read(path: Path) -> Credentials:
    """The Content Credentials in ``path``, validated (signature, hashes of the file's content)."""
    c2pa = require_c2pa()
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: file not found; check the path")
    try:
        reader = c2pa.Reader.try_create(path)
    except c2pa.C2paError as exc:
        return Credentials("Invalid", failures=(_one_line(exc),))
    if reader is None:
        return Credentials("none")
    with reader:
        active = reader.get_active_manifest() or {}
        results = (reader.get_validation_results() or {}).get("activeManifest", {})
        state = reader.get_validation_state() or "Invalid"
    entries: dict[str, str] = {}
    for assertion in active.get("assertions", []):
        if assertion.get("label", "").startswith("cawg.training-mining"):
            entries.update({k: v.get("use", "") for k, v in assertion.get("data", {}).get("entries", {}).items()})
    info = active.get("signature_info", {})
    failed = results.get("failure", [])
    untrusted = [r for r in failed if r.get("code") == UNTRUSTED]  # a note, not a failure: the signature itself holds
    return Credentials(
        state=state,
        signer=" / ".join(filter(None, (info.get("common_name"), info.get("issuer")))),
        training_mining=entries,
        failures=tuple(f"{r.get('code')}: {r.get('explanation', '')}" for r in failed if r not in untrusted),
        notes=tuple(r.get("code", "") for r in (*untrusted, *results.get("informational", []))),
    )


def _mime(path: Path) -> str:
    kind = mimetypes.guess_type(path.name)[0]
    if kind not in ("image/png", "image/jpeg", "image/webp", "image/tiff", "image/gif"):
        raise ImageError(f"{path}: Content Credentials are not supported for this format; save as PNG, JPEG, WebP or TIFF")
    return kind


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]
