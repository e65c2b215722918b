"""The Mach-O reader and dyld's binding rules, on small Mach-O files the tests write
themselves (tests/macho_builder.py), plus the real check against PyPI's wheels
(network)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest
from support.macho_builder import Dylib, Imp, Sym, export_trie, fat

from envgen.abi import macho, machoexports, machoformat, machoslice
from envgen.abi.bind import Image, demangle, resolve, tensorflow_owned
from envgen.abi.checkpair import check_pair
from envgen.abi.wheels import WheelStore, alias_target, installed_path
from envgen.cli import run
from envgen.pypi.models import DistFile, Release, Releases
from envgen.pypi.tags import parse_wheel_tags

PYWRAP = "tensorflow/python/_pywrap_tensorflow_internal.so"
FRAMEWORK = "tensorflow/libtensorflow_framework.2.dylib"
PLUGIN = "tensorflow-plugins/libmetal_plugin.dylib"


def image(path: str, dylib: Dylib) -> Image:
    return Image(path, macho.parse_bytes(dylib.build()))


def framework(*names: str) -> Dylib:
    return Dylib(
        install_name="@rpath/libtensorflow_framework.2.dylib",
        exports=[Sym(n) for n in names],
    )


def pywrap(
    reexported: list[str], *, own: tuple[str, ...] = (), whole_reexport: bool = False
) -> Dylib:
    """Like TensorFlow's: @rpath deps, and per-symbol re-export entries pointing at
    dylib #1."""
    kind = "reexport" if whole_reexport else "load"
    return Dylib(
        install_name="@rpath/_pywrap_tensorflow_internal.so",
        deps=[
            ("@rpath/libtensorflow_framework.2.dylib", kind),
            ("/usr/lib/libSystem.B.dylib", "load"),
        ],
        rpaths=["@loader_path/../../_solib_darwin_arm64/nowhere", "@loader_path/.."],
        exports=[Sym(n, reexport=1) for n in reexported] + [Sym(n) for n in own],
    )


def plugin(imports: list[Imp], **extra) -> Dylib:
    return Dylib(
        install_name="bazel-out/libmetal_plugin.dylib",
        deps=[
            ("/usr/lib/libc++.1.dylib", "load"),
            ("@rpath/_pywrap_tensorflow_internal.so", "load"),
            ("/usr/lib/libSystem.B.dylib", "load"),
        ],
        rpaths=["@loader_path/../_solib_darwin_arm64/bazel-only"],
        imports=imports,
        **extra,
    )


def check(plugin_dylib: Dylib, files: dict[str, Dylib], **options):
    images = {path: image(path, dylib) for path, dylib in files.items()}
    return resolve(image(PLUGIN, plugin_dylib), [images[PYWRAP]], images.get, **options)


def statuses(resolution) -> dict[str, str]:
    return {f.symbol: f.status for f in resolution.findings}


# ----------------------------------------------------------------------- reading Mach-O


def test_export_trie_lookup_handles_prefixes_and_misses():
    names = [
        "_TF_Get",
        "_TF_GetInput",
        "_TF_GetInputList",
        "_TF_GetOutput",
        "__ZN3tsl1aE",
    ]
    table = machoexports.ExportTrie(export_trie([Sym(n) for n in names]))
    assert sorted(table.names()) == sorted(names)
    assert all(table.lookup(n) is not None for n in names)
    assert (
        table.lookup("_TF_GetIn") is None
        and table.lookup("_TF_GetInputListX") is None
        and table.lookup("") is None
    )


def test_export_trie_empty_edge_terminals_of_the_new_linker():
    # ld-prime hangs '_x_List' off an empty edge below the node shared with
    # '_x_ListSize'; dyld's trieWalk follows it (the first version of this reader did
    # not, and every such name was "missing")
    names = ["_TF_GetInputPropertiesList", "_TF_GetInputPropertiesListSize"]
    trie = export_trie([Sym(n) for n in names], empty_edges=True)
    assert b"\0\0" in trie or b"\x00\x00" in trie
    table = machoexports.ExportTrie(trie)
    assert table.lookup(names[0]) is not None and table.lookup(names[1]) is not None
    assert table.lookup("_TF_GetInputProperties") is None


def test_parse_reads_dylibs_rpaths_and_every_kind_of_bind():
    dylib = plugin(
        [
            Imp("_TF_NewStatus", 2),
            Imp("_TF_Lazy", 2, lazy=True),
            Imp("_TF_Flat", -2),
            Imp("_TF_FlatLazy", -2, lazy=True),
            Imp("_maybe", 3, weak=True),
            Imp("_Py_None", -1),
        ],
        weak_binds=["__ZNSt3__14coutE"],
    )
    parsed = macho.parse_bytes(dylib.build())
    assert parsed.install_name == "bazel-out/libmetal_plugin.dylib"
    assert [d.path for d in parsed.dylibs][1] == "@rpath/_pywrap_tensorflow_internal.so"
    assert parsed.rpaths == ("@loader_path/../_solib_darwin_arm64/bazel-only",)
    by_name = {i.name: i for i in parsed.imports}
    assert by_name["_TF_NewStatus"] == machoformat.Import(
        "_TF_NewStatus", 2, False, False
    )
    assert (
        by_name["_TF_Lazy"].lazy
        and by_name["_TF_FlatLazy"].ordinal == machoformat.ORDINAL_FLAT_LOOKUP
    )
    assert (
        by_name["_maybe"].weak
        and by_name["_Py_None"].ordinal == machoformat.ORDINAL_MAIN_EXECUTABLE
    )
    assert parsed.weak_binds == ("__ZNSt3__14coutE",) and parsed.fixups == "opcodes"


def test_parse_chained_fixups_imports():
    dylib = Dylib(
        deps=[("@rpath/a.dylib", "load")],
        style="chained",
        imports=[Imp("_a", 1), Imp("_b", -2), Imp("_c", 1, weak=True)],
        exports=[Sym("_mine")],
    )
    parsed = macho.parse_bytes(dylib.build())
    assert parsed.fixups == "chained"
    assert {(i.name, i.ordinal, i.weak, i.lazy) for i in parsed.imports} == {
        ("_a", 1, False, False),
        ("_b", -2, False, False),
        ("_c", 1, True, False),
    }
    assert parsed.exports.lookup("_mine") is not None


def test_parse_symtab_only_image():
    dylib = Dylib(
        deps=[("@rpath/a.dylib", "load")],
        style="symtab",
        exports=[Sym("_here", weak_def=True)],
        imports=[Imp("_there", 1), Imp("_flat", -2, weak=True)],
    )
    parsed = macho.parse_bytes(dylib.build())
    assert parsed.exports.lookup("_here") == machoformat.Export("_here", True)
    assert {(i.name, i.ordinal, i.weak) for i in parsed.imports} == {
        ("_there", 1, False),
        ("_flat", -2, True),
    }


def test_flat_namespace_image_binds_everything_flat():
    parsed = macho.parse_bytes(
        Dylib(
            deps=[("@rpath/a.dylib", "load")], imports=[Imp("_x", 1)], two_level=False
        ).build()
    )
    assert parsed.imports[0].ordinal == machoformat.ORDINAL_FLAT_LOOKUP


def test_universal_file_picks_arm64_and_refuses_x86_only():
    arm = Dylib(install_name="arm", exports=[Sym("_a")]).build()
    intel = Dylib(install_name="intel", cputype=machoformat.CPU_TYPE_X86_64).build()
    assert (
        macho.parse_bytes(
            fat((machoformat.CPU_TYPE_X86_64, intel), (machoformat.CPU_TYPE_ARM64, arm))
        ).install_name
        == "arm"
    )
    with pytest.raises(machoformat.MachOError, match="without an arm64 slice"):
        macho.parse_bytes(fat((machoformat.CPU_TYPE_X86_64, intel)))
    with pytest.raises(machoformat.MachOError, match="not a 64-bit"):
        macho.parse_bytes(b"\x7fELF" + b"\0" * 60)


def test_streamed_slices_parse_like_the_whole_file(monkeypatch, tmp_path):
    monkeypatch.setattr(
        machoslice, "CHUNK", 7
    )  # many tiny reads: the forward reader must still land on every range
    for data in (
        plugin([Imp("_TF_A", 2), Imp("_TF_B", -2, lazy=True)]).build(),
        fat((machoformat.CPU_TYPE_ARM64, framework("_TF_A", "_TF_AB").build())),
    ):
        whole = macho.parse_bytes(data)
        sparse = machoslice.extract(io.BytesIO(data), len(data), with_imports=True)
        assert sparse.kept <= len(data)
        again, meta = machoslice.SparseImage.loads(sparse.dumps({"member": "x"}))
        for parsed in (sparse.parse(), again.parse()):
            assert parsed.imports == whole.imports and parsed.dylibs == whole.dylibs
            assert sorted(parsed.exports.names()) == sorted(whole.exports.names())
        assert meta["member"] == "x"
    exports_only = machoslice.extract(io.BytesIO(data), len(data), with_imports=False)
    assert exports_only.parse().imports == ()


# ------------------------------------------------------------------------ binding rules


def test_two_level_import_follows_per_symbol_reexport_to_the_framework():
    files = {PYWRAP: pywrap(["_TF_NewStatus"]), FRAMEWORK: framework("_TF_NewStatus")}
    result = check(plugin([Imp("_TF_NewStatus", 2)]), files)
    (finding,) = result.checked
    assert (
        finding.status == "resolved"
        and finding.provider == FRAMEWORK
        and result.compatible
    )
    assert result.loaded == (PYWRAP, FRAMEWORK)


def test_two_level_import_missing_when_the_reexport_target_lost_it():
    # the 1.1.0 + 2.18 case: pywrap no longer lists the symbol, so dlopen fails
    files = {
        PYWRAP: pywrap(["_TF_NewStatus"]),
        FRAMEWORK: framework("_TF_NewStatus", "__ZN3tsl8internal10LogMessageC1EPKcii"),
    }
    result = check(
        plugin([Imp("__ZN3tsl8internal10LogMessageC1EPKcii", 2, lazy=True)]), files
    )
    (missing,) = result.missing
    assert (
        missing.expected_in == PYWRAP
        and missing.fails_at_load
        and not result.compatible
    )


def test_two_level_searches_whole_reexported_dylibs_but_flat_lookup_does_not():
    files = {PYWRAP: pywrap([], whole_reexport=True), FRAMEWORK: framework("_TF_Deep")}
    two_level = check(plugin([Imp("_TF_Deep", 2)]), files)
    assert two_level.compatible and two_level.checked[0].provider == FRAMEWORK
    # flat lookup is shallow per image, but the framework itself is loaded, so it is
    # found there
    flat = check(plugin([Imp("_TF_Deep", -2)]), files)
    assert flat.compatible and flat.checked[0].provider == FRAMEWORK


def test_flat_lookup_searches_every_loaded_tensorflow_image_then_the_plugin():
    files = {
        PYWRAP: pywrap([], own=("_TF_InPywrap",)),
        FRAMEWORK: framework("_TF_InFramework"),
    }
    mine = plugin(
        [
            Imp("_TF_InPywrap", -2),
            Imp("_TF_InFramework", -2),
            Imp("_TF_Own", -2),
            Imp("_TF_Nowhere", -2),
        ],
        exports=[Sym("_TF_Own")],
    )
    result = check(mine, files)
    assert statuses(result) == {
        "_TF_InPywrap": "resolved",
        "_TF_InFramework": "resolved",
        "_TF_Own": "resolved",
        "_TF_Nowhere": "missing",
    }
    assert result.missing[0].expected_in == "flat namespace"


def test_flat_lookup_outside_tensorflow_names_is_not_checked():
    files = {PYWRAP: pywrap([]), FRAMEWORK: framework()}
    result = check(
        plugin([Imp("_objc_msgSend", -2), Imp("_PyLong_FromLong", -2)]), files
    )
    assert result.compatible and result.checked == ()
    assert dict(result.not_checked) == {"flat namespace, outside TensorFlow": 2}


def test_weak_import_may_be_missing_and_system_and_main_executable_are_not_checked():
    files = {PYWRAP: pywrap([]), FRAMEWORK: framework()}
    result = check(
        plugin(
            [
                Imp("_TF_Optional", 2, weak=True),
                Imp("_malloc", 3),
                Imp("__ZNSt3__14coutE", 1),
                Imp("_Py_Main", -1),
            ]
        ),
        files,
    )
    assert result.compatible
    assert statuses(result)["_TF_Optional"] == "weak-missing"
    assert dict(result.not_checked) == {
        "/usr/lib/libSystem.B.dylib": 1,
        "/usr/lib/libc++.1.dylib": 1,
        "the Python executable": 1,
    }


def test_lazy_symbol_fails_at_load_only_under_rtld_now():
    files = {PYWRAP: pywrap([]), FRAMEWORK: framework()}
    now = check(plugin([Imp("_TF_Gone", 2, lazy=True)]), files)
    later = check(plugin([Imp("_TF_Gone", 2, lazy=True)]), files, rtld_now=False)
    assert now.missing[0].fails_at_load and not later.missing[0].fails_at_load
    assert not later.compatible  # aborting at the first call is not compatible either


def test_rpath_found_through_loader_path_and_a_missing_library_is_reported():
    files = {
        PYWRAP: pywrap(["_TF_A"]),
        FRAMEWORK: framework("_TF_A"),
        "tensorflow/python/libextra.dylib": Dylib(
            install_name="@rpath/libextra.dylib", exports=[Sym("_TF_X")]
        ),
    }
    files[PYWRAP].deps.append(("@loader_path/libextra.dylib", "load"))
    files[PYWRAP].deps.append(("@rpath/libgone.dylib", "load"))
    result = check(plugin([Imp("_TF_X", -2)]), files)
    assert "tensorflow/python/libextra.dylib" in result.loaded
    assert result.missing == () and [p.load_path for p in result.library_problems] == [
        "@rpath/libgone.dylib"
    ]
    assert not result.compatible


def test_an_rpath_that_climbs_out_of_site_packages_finds_nothing_there():
    files = {PYWRAP: pywrap(["_TF_A"]), FRAMEWORK: framework("_TF_A")}
    files[PYWRAP].rpaths.append("@loader_path/../../..")
    files[PYWRAP].deps.append(("@rpath/libgone.dylib", "load"))
    result = check(plugin([Imp("_TF_A", 2)]), files)
    assert [p.load_path for p in result.library_problems] == ["@rpath/libgone.dylib"]
    assert "_solib_darwin_arm64/nowhere/libgone.dylib" in (
        result.library_problems[0].detail
    )


def test_tensorflow_owned_names():
    assert tensorflow_owned("_TF_NewStatus") and tensorflow_owned(
        "__ZN10tensorflow7NodeDefD1Ev"
    )
    assert tensorflow_owned(
        "__ZNK6google8protobuf7Message11DebugStringEv"
    ) and tensorflow_owned("__ZN3tsl8internal10LogMessageD1Ev")
    assert not tensorflow_owned("_objc_msgSend") and not tensorflow_owned(
        "__ZNSt3__14coutE"
    )


def test_demangle_without_a_tool_keeps_the_names():
    assert demangle(["__ZN3tsl1fEv", "_TF_X"], tool="/nonexistent/c++filt") == {
        "__ZN3tsl1fEv": "__ZN3tsl1fEv",
        "_TF_X": "_TF_X",
    }


# ------------------------------------------------------------------- wheels, end to end


def test_alias_target_and_installed_path():
    requires = [
        (
            'tensorflow-macos ==2.14.1 ; platform_system == "Darwin" and'
            ' platform_machine == "arm64"'
        ),
        'tensorflow-cpu-aws ==2.14.1 ; platform_system == "Linux"',
        "numpy>=1.23",
    ]
    assert alias_target(requires, "3.11") == ("tensorflow-macos", "2.14.1")
    assert alias_target(["numpy"], "3.11") is None
    assert (
        installed_path("tensorflow_metal-0.2.0.data/purelib/tensorflow-plugins/x.dylib")
        == "tensorflow-plugins/x.dylib"
    )
    assert installed_path("tensorflow/python/x.so") == "tensorflow/python/x.so"


class _Index:
    """A Repository over wheels written to a temp dir, served as file:// URLs."""

    def __init__(self, wheels: dict[str, dict[str, bytes]], root: Path) -> None:
        self.by_package: dict[str, list[Release]] = {}
        for filename, members in wheels.items():
            path = root / filename
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
                for name, data in members.items():
                    archive.writestr(name, data)
            body = path.read_bytes()
            name, version = filename.split("-")[:2]
            dist = DistFile(
                filename,
                "wheel",
                path.as_uri(),
                hashlib.sha256(body).hexdigest(),
                len(body),
                None,
                datetime(2024, 1, 1, tzinfo=timezone.utc),
                False,
                "",
                parse_wheel_tags(filename),
            )
            self.by_package.setdefault(name.replace("_", "-"), []).append(
                Release(version, (dist,))
            )

    def releases(self, name: str) -> Releases:
        return Releases(
            name,
            tuple(self.by_package.get(name, ())),
            "network",
            datetime.now(timezone.utc),
        )


def _fake_index(tmp_path: Path, *, with_log_message: bool) -> _Index:
    exports = ["_TF_NewStatus"] + (
        ["__ZN3tsl8internal10LogMessageC1EPKcii"] if with_log_message else []
    )
    metadata = (
        "Metadata-Version: 2.1\nName: tensorflow\nVersion: 2.14.1\nRequires-Dist:"
        ' tensorflow-macos ==2.14.1 ; platform_system == "Darwin" and platform_machine'
        ' == "arm64"\n'
    )
    return _Index(
        {
            "tensorflow_metal-1.1.0-cp311-cp311-macosx_12_0_arm64.whl": {
                PLUGIN: plugin(
                    [
                        Imp("_TF_NewStatus", 2),
                        Imp("__ZN3tsl8internal10LogMessageC1EPKcii", 2, lazy=True),
                    ]
                ).build()
            },
            "tensorflow-2.14.1-cp311-cp311-macosx_12_0_arm64.whl": {
                "tensorflow-2.14.1.dist-info/METADATA": metadata.encode()
            },
            "tensorflow_macos-2.14.1-cp311-cp311-macosx_12_0_arm64.whl": {
                PYWRAP: pywrap(exports).build(),
                FRAMEWORK: framework(*exports).build(),
            },
        },
        tmp_path,
    )


def test_check_pair_follows_the_alias_caches_tables_and_reports(tmp_path):
    index = _fake_index(tmp_path, with_log_message=True)
    store = WheelStore(cache_dir=tmp_path / "cache")
    first = check_pair("1.1.0", "2.14.1", repository=index, store=store)
    assert (
        first.compatible
        and first.tf_package == "tensorflow-macos"
        and first.python == "3.11"
    )
    assert first.alias == "tensorflow 2.14.1 -> tensorflow-macos 2.14.1"
    assert len(first.stats.downloads) == 3 and first.stats.extracted
    warm = check_pair(
        "1.1.0",
        "2.14.1",
        repository=index,
        store=WheelStore(cache_dir=tmp_path / "cache"),
    )
    assert (
        warm.compatible and warm.stats.extracted == () and len(warm.stats.cached) == 3
    )


def test_cli_check_pair_names_the_missing_symbol(tmp_path, monkeypatch, capsys):
    index = _fake_index(tmp_path, with_log_message=False)
    monkeypatch.setattr("envgen.commands.check_pair.PyPIClient", lambda: index)
    assert (
        run(["catalog", "check-pair", "--metal", "1.1.0", "--tf", "2.14.1", "-q"]) == 1
    )
    out = capsys.readouterr().out
    assert (
        "INCOMPATIBLE" in out
        and "Symbol not found: __ZN3tsl8internal10LogMessageC1EPKcii" in out
    )
    assert "Expected in: tensorflow/python/_pywrap_tensorflow_internal.so" in out
    assert (
        run(
            [
                "catalog",
                "check-pair",
                "--metal",
                "1.1.0",
                "--tf",
                "2.14.1",
                "--json",
                "-q",
            ]
        )
        == 1
    )
    document = json.loads(capsys.readouterr().out)
    assert (
        document["compatible"] is False
        and document["missing"][0]["fails_at_load"] is True
    )


def test_cli_check_pair_bad_version_is_one_line_exit_2(capsys):
    assert run(["catalog", "check-pair", "--metal", "one", "--tf", "2.14.1"]) == 2
    assert "envgen: error: --metal 'one' is not a version" in capsys.readouterr().err


def test_corrupt_download_is_refused(tmp_path):
    index = _fake_index(tmp_path, with_log_message=True)
    release = index.by_package["tensorflow-metal"][0]
    bad = release.files[0].__class__(
        **{**release.files[0].__dict__, "sha256": "0" * 64}
    )
    store = WheelStore(cache_dir=tmp_path / "cache", retries=0)
    with pytest.raises(Exception, match="does not match the sha256"):
        store.wheel_path(bad)
    assert not (tmp_path / "cache" / "wheels" / bad.filename).exists()


# -------------------------------------------------------------------------- real wheels


@pytest.mark.network
@pytest.mark.slow
def test_real_pairs_from_pypi():
    """tensorflow-metal 1.1.0 binds into TF 2.14.1; with TF 2.18.0 one symbol is missing
    (about 440 MB of downloads)."""
    from envgen.pypi.client import PyPIClient

    good = check_pair("1.1.0", "2.14.1", repository=PyPIClient())
    assert good.compatible and len(good.resolution.checked) > 100
    bad = check_pair("1.1.0", "2.18.0", repository=PyPIClient())
    assert not bad.compatible
    assert [f.symbol for f in bad.resolution.missing] == [
        "__ZN3tsl8internal10LogMessageC1EPKcii"
    ]


@pytest.mark.parametrize(
    "data,value",
    [
        (b"\x7f", -1),
        (b"\x7e", -2),
        (b"\x80\x7f", -128),
        (b"\x3f", 63),
        (b"\xc0\x00", 64),
        (b"\xe5\x8e\x26", 624485),
    ],
)
def test_signed_leb128_as_dyld_reads_it(data, value):
    from envgen.abi.machoformat import read_sleb

    assert read_sleb(data, 0) == (value, len(data))
