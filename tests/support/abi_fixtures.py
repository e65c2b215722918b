"""Hand-made Mach-O symbol check records and check reports, so update, matrix and
refresh can be tested without downloading a wheel. The real check runs in
tests/abi/test_abicheck.py (network, slow).
"""

from __future__ import annotations

from types import SimpleNamespace

from envgen.abi.bind import Resolution, SymbolBinding
from envgen.catalog.abirecords import AbiRecord, AbiRecords, MissingSymbol

PYWRAP = "tensorflow/python/_pywrap_tensorflow_internal.so"
LOG_MESSAGE = "__ZN3tsl8internal10LogMessageC1EPKcii"


def abi_record(
    metal: str,
    package: str,
    tf: str,
    *,
    missing: tuple[str, ...] = (),
    checked: int = 160,
) -> AbiRecord:
    """A record as refresh --abi-check would write it; incompatible when ``missing``
    names symbols."""
    return AbiRecord(
        metal=metal,
        tf_package=package,
        tf_version=tf,
        result="incompatible" if missing else "compatible",
        python="3.11",
        symbols_checked=checked,
        libraries_from=package,
        wheels=(
            (
                f"{package.replace('-', '_')}-{tf}-cp311-cp311-macosx_12_0_arm64.whl",
                "a" * 64,
            ),
            (f"tensorflow_metal-{metal}-cp311-cp311-macosx_12_0_arm64.whl", "b" * 64),
        ),
        missing=tuple(MissingSymbol(s, f"readable {s}", PYWRAP) for s in missing),
        envgen="0.1.0",
        date="2026-11-23",
    )


def records(*items: AbiRecord) -> AbiRecords:
    return AbiRecords().updated(items)


def fake_report(
    metal: str,
    tf: str,
    *,
    missing: tuple[str, ...] = (),
    package: str = "tensorflow",
    python: str = "3.11",
):
    """What ``checkpair.check_pair`` returns, reduced to what a record is made from."""
    findings = [
        SymbolBinding(
            f"_TF_Sym{i}", "flat", "flat namespace", False, False, "resolved", PYWRAP
        )
        for i in range(3)
    ]
    findings += [
        SymbolBinding(symbol, "two-level", PYWRAP, True, False, "missing")
        for symbol in missing
    ]
    resolution = Resolution(tuple(findings), (PYWRAP,))
    wheel = lambda name, version, digit: SimpleNamespace(  # noqa: E731
        filename=f"{name}-{version}-cp311-cp311-macosx_12_0_arm64.whl",
        sha256=digit * 64,
    )
    return SimpleNamespace(
        metal=metal,
        tf=tf,
        tf_package=package,
        python=python,
        resolution=resolution,
        compatible=resolution.compatible,
        readable={symbol: f"readable {symbol}" for symbol in missing},
        metal_wheel=wheel("tensorflow_metal", metal, "c"),
        tf_wheel=wheel(package.replace("-", "_"), tf, "d"),
    )
