"""Doctor rules about what TensorFlow does when it runs: import, the Metal plugin, the
GPU."""

from __future__ import annotations

import re

from packaging.version import InvalidVersion

from envgen.catalog import pairs
from envgen.doctor.context import (
    FIX_BOOTSTRAP,
    FIX_MINIFORGE,
    RuleContext,
    shorten,
    version_of,
)
from envgen.doctor.findings import Finding

_NUMPY_ABI = (
    "numpy c-extensions",
    "multiarray failed to import",
    "compiled using numpy 1.x",
    "numpy.core._multiarray_umath",
    "module compiled against api version",
    "numpy.dtype size changed",
)


_METAL_CRASH = (
    "NSInvalidArgumentException",
    "libmetal_plugin",
    "metal_plugin",
    "MPSGraph",
    "MTLCompiler",
)


_PLUGIN = ("symbol not found", "libmetal_plugin", "tensorflow-plugins", "pluggable")


def check_tf_runs(c: RuleContext) -> list[Finding]:
    """import tensorflow (with the Metal plugin TensorFlow ≥ 2.5 loads on import) in the
    probe's child process. (FAILURES.md F9, F10, F11)"""
    stage, tf = c.probe.tf_stage, c.probe.tf
    if not c.tf_dists and not tf.get("import_ok"):
        return []  # check_tf_installed already says so
    tail = shorten(
        (
            (stage.get("stderr_tail") or "").strip().splitlines()[-1]
            if (stage.get("stderr_tail") or "").strip()
            else ""
        ),
        240,
    )
    if stage.get("timed_out"):
        return [
            Finding(
                "tf-import",
                "error",
                "TensorFlow hung: import or a first op did not finish",
                f"no answer after {stage.get('timeout_seconds', '?')} s; last stderr:"
                f" {tail or '(none)'}",
                "rerun with a longer --timeout; if it still hangs, reinstall the"
                f" catalog pair ({c.install_tf_command()})",
            )
        ]
    if stage.get("signal") or (stage.get("ran") and not tf):
        whole = stage.get("stderr_tail") or ""
        evidence = (
            "the interpreter died"
            f" ({stage.get('signal') or 'exit ' + str(stage.get('returncode'))}); last"
            f" stderr: {tail or '(none)'}"
        )
        if any(marker in whole for marker in _METAL_CRASH):
            return [
                Finding(
                    "metal-crash",
                    "error",
                    "TensorFlow crashed in the Metal plugin (the kernel-dies-during-fit"
                    " failure)",
                    evidence,
                    "install the pair the catalog lists together:"
                    f" {c.install_tf_command()}",
                )
            ]
        if stage.get("signal") == "SIGILL" and c.probe.machine == "x86_64":
            return [
                Finding(
                    "tf-import",
                    "error",
                    "TensorFlow crashed with an illegal instruction (x86_64 build needs"
                    " AVX)",
                    evidence,
                    FIX_MINIFORGE,
                )
            ]
        fix = f"reinstall from the lock: {FIX_BOOTSTRAP}"
        if c.probe.distribution("tensorflow-metal") is not None:
            fix += (
                "; a crash on import is often the Metal plugin:"
                f" {c.install_tf_command()}"
            )
        return [
            Finding(
                "tf-import",
                "error",
                "TensorFlow crashed the interpreter",
                evidence,
                fix,
            )
        ]
    if stage.get("error"):
        return [
            Finding(
                "tf-import",
                "error",
                "could not run the TensorFlow check",
                shorten(stage["error"]),
                "check that the interpreter can start itself (sys.executable)",
            )
        ]
    if tf.get("import_ok"):
        return [
            Finding(
                "tf-import",
                "ok",
                "TensorFlow imports",
                f"tensorflow {tf.get('version')} in {tf.get('import_seconds', '?')} s",
            )
        ]
    error = tf.get("import_error") or "unknown error"
    lowered = error.lower()
    if any(marker in lowered for marker in _PLUGIN):
        symbol = re.search(r"Symbol not found: \(?([^\s)]+)", error)
        library = re.search(r"dlopen\(([^,)]+)", error)
        evidence = (
            f"{library.group(1).rsplit('/', 1)[-1] if library else 'plugin'}: Symbol"
            f" not found: {symbol.group(1)}"
            if symbol
            else shorten(error, 200)
        )
        return [
            Finding(
                "metal-plugin",
                "error",
                "the Metal plugin failed to load: tensorflow-metal was built against"
                " another TensorFlow",
                evidence,
                "install the pair the catalog lists together:"
                f" {c.install_tf_command()}",
            )
        ]
    if any(marker in lowered for marker in _NUMPY_ABI):
        return [
            Finding(
                "numpy-abi",
                "error",
                "numpy does not match TensorFlow's build (a non-conda-forge or too-new"
                " numpy)",
                shorten(error),
                "pip uninstall -y numpy; conda install --override-channels -c"
                f" conda-forge {c.conda_pin('numpy')}",
            )
        ]
    if "descriptors cannot be created directly" in lowered:
        cap = dict(c.line.pip_caps).get("protobuf", "<3.20") if c.line else "<3.20"
        return [
            Finding(
                "tf-import",
                "error",
                "protobuf too new for this TensorFlow",
                shorten(error),
                f"pip install 'protobuf{cap}'",
            )
        ]
    return [
        Finding(
            "tf-import",
            "error",
            "import tensorflow fails",
            shorten(error),
            f"reinstall the environment: {FIX_BOOTSTRAP}, or {c.install_tf_command()}"
            " --force-reinstall",
        )
    ]


def check_metal(c: RuleContext) -> list[Finding]:
    """Is tensorflow-metal installed, and the release the catalog pairs with this
    TensorFlow? (FAILURES.md F11, F12)"""
    p = c.probe
    metal = p.distribution("tensorflow-metal")
    line = c.line
    if metal is None:
        if not c.tf_dists:
            # check_tf_installed already reports the missing TensorFlow; its fix
            # installs the pair.
            return []
        if not c.metal_wanted:
            return [
                Finding(
                    "tensorflow-metal",
                    "ok",
                    "tensorflow-metal not installed (the project is CPU-only: metal ="
                    " false)",
                    "tensorflow-metal: absent",
                )
            ]
        wanted = (
            f"pip install tensorflow-metal=={line.metal}"
            if line and line.metal
            else (
                "pip install the tensorflow-metal release paired with your TensorFlow"
                " (`envgen matrix`)"
            )
        )
        if p.apple_silicon:
            return [
                Finding(
                    "tensorflow-metal",
                    "error",
                    "tensorflow-metal is not installed: TensorFlow runs on the CPU"
                    " only",
                    "tensorflow-metal: absent",
                    wanted,
                )
            ]
        return [
            Finding(
                "tensorflow-metal",
                "fact",
                "tensorflow-metal is not installed (it exists only for Apple Silicon"
                " Macs)",
                "tensorflow-metal: absent",
                f"nothing to do on this machine; on an Apple Silicon Mac: {wanted}",
            )
        ]
    version = version_of(metal)
    if not c.tf_dists:
        return [
            Finding(
                "tensorflow-metal",
                "warning",
                "tensorflow-metal without TensorFlow",
                f"tensorflow-metal {version}",
                c.install_tf_command(),
            )
        ]
    if line is None or not c.line_known:
        return [
            Finding(
                "metal-pair",
                "warning",
                "cannot check the tensorflow-metal pair: TensorFlow line unknown to the"
                " catalog",
                f"tensorflow-metal {version}, tensorflow {c.tf_version}",
                "use a catalog line (`envgen matrix`)",
            )
        ]
    try:
        status = pairs.metal_status(line, version, p.python_minor or "")
        if not status and not p.python_minor:
            status = "catalog" if line.metal_accepts(version) else ""
        accepted = bool(line.metal_range) and bool(status)
    except InvalidVersion:
        accepted = False
    if accepted:
        return [
            Finding(
                "metal-pair",
                "ok",
                "tensorflow-metal pairs with TensorFlow",
                (
                    f"tensorflow-metal {version} with TensorFlow {c.tf_version}"
                    f" (catalog: {line.metal_range})"
                    if status != "inferred"
                    else (
                        f"tensorflow-metal {version} with TensorFlow {c.tf_version} on"
                        f" Python {p.python_minor}: an inferred alternative"
                        " (ABI-checked, beyond Apple's table)"
                    )
                ),
            )
        ]
    option = pairs.metal_for_python(line, p.python_minor or "")
    wanted_metal = option.metal if option is not None else line.metal
    fix = (
        f"pip install tensorflow-metal=={wanted_metal}"
        if line.metal
        else (
            f"pip uninstall -y tensorflow-metal (TensorFlow {line.tf} has no known"
            " Metal pair)"
        )
    )
    other = c.catalog.pair_of_metal(version)
    if other is not None and other.tf != line.tf:
        fix += (
            "; or keep it and move TensorFlow to its pair: pip install"
            f" {other.package}=={other.version}"
        )
    expected = line.metal_range or "no release"
    return [
        Finding(
            "metal-pair",
            "error",
            "tensorflow-metal does not pair with the installed TensorFlow (plugin"
            " crashes, kernel dies during fit)",
            f"tensorflow-metal {version} with TensorFlow {c.tf_version}; catalog:"
            f" {expected}",
            fix,
        )
    ]


def check_gpu(c: RuleContext) -> list[Finding]:
    """Is a GPU listed, do ops run on it, and is memory growth on? (FAILURES.md F13,
    F14, F15)"""
    tf = c.probe.tf
    if not tf.get("import_ok"):
        return []
    gpus = tf.get("gpus") or []
    if not gpus:
        devices = ", ".join(d.get("name", "?") for d in tf.get("devices") or [])
        if c.probe.apple_silicon and c.metal_wanted:
            fix = (
                "install tensorflow-metal (see above)"
                if c.probe.distribution("tensorflow-metal") is None
                else (
                    "the plugin loaded no device: reinstall the catalog pair"
                    f" ({c.install_tf_command()})"
                )
            )
            return [
                Finding(
                    "gpu",
                    "error",
                    "no GPU listed by TensorFlow",
                    f"devices: {devices or tf.get('devices_error', 'none')}",
                    fix,
                )
            ]
        return [
            Finding(
                "gpu",
                "warning" if c.probe.apple_silicon else "fact",
                "no GPU listed by TensorFlow: it will train on the CPU",
                f"devices: {devices or 'none'}",
                "expected without Metal; for GPU training use an Apple Silicon Mac with"
                " tensorflow-metal",
            )
        ]
    findings = [Finding("gpu", "ok", "GPU listed by TensorFlow", ", ".join(gpus))]
    placed = [tf.get("matmul_device"), tf.get("conv_grad_device")]
    if tf.get("op_error"):
        findings.append(
            Finding(
                "gpu-ops",
                "error",
                "a small op failed",
                shorten(tf["op_error"]),
                "install the pair the catalog lists together:"
                f" {c.install_tf_command()}",
            )
        )
    elif all(d and "GPU" in d for d in placed):
        findings.append(
            Finding(
                "gpu-ops",
                "ok",
                "ops run on the GPU",
                f"matmul on {placed[0]}, conv gradient on {placed[1]}",
            )
        )
    else:
        findings.append(
            Finding(
                "gpu-ops",
                "error",
                "GPU listed, but ops ran on the CPU: listing a device is not"
                " acceleration",
                f"matmul on {placed[0] or '?'}, conv gradient on {placed[1] or '?'}",
                "see where ops run with tf.debugging.set_log_device_placement(True);"
                f" reinstall the catalog pair ({c.install_tf_command()})",
            )
        )
    growth = tf.get("memory_growth") or []
    forced = str(tf.get("env_TF_FORCE_GPU_ALLOW_GROWTH") or "").lower() == "true"
    if forced or (growth and all(g is True for g in growth)):
        findings.append(
            Finding(
                "memory-growth",
                "ok",
                "GPU memory growth on",
                (
                    "TF_FORCE_GPU_ALLOW_GROWTH=true"
                    if forced
                    else f"memory growth: {growth}"
                ),
            )
        )
    else:
        # Advice, not a fault: the probe cannot see what a training script does.
        findings.append(
            Finding(
                "memory-growth",
                "ok",
                "GPU memory growth is off by default: TensorFlow may take memory up"
                " front and stall other apps",
                f"memory growth: {growth or 'unknown'}",
                "in training scripts: for gpu in"
                " tf.config.list_physical_devices('GPU'):"
                " tf.config.experimental.set_memory_growth(gpu, True) (or export"
                " TF_FORCE_GPU_ALLOW_GROWTH=true)",
            )
        )
    return findings
