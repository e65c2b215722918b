"""envgen doctor's probe: runs inside the TARGET interpreter and prints one JSON
object.

Standard library only, and written for old Pythons too (3.6+ syntax, no walrus,
importlib.metadata optional), because it runs in whatever environment the user has,
however broken. envgen never imports this module: it copies it into an empty temporary
directory and runs it there with the target python, so nothing from envgen or the
user's working directory can shadow a module.

Two stages, so a crashing TensorFlow cannot take the facts about the machine down with
it:
  python probe.py [--timeout SECONDS]   machine, Python, conda and distribution facts;
                                        then runs the second stage as a child and
                                        embeds its answer
  python probe.py --tensorflow          import tensorflow, the Metal plugin, GPUs,
                                        one op
A child that dies (segfault, abort from an uncaught NSInvalidArgumentException,
Rosetta's "Illegal instruction") or hangs is recorded as such, with the tail of its
stderr.

Copy it to any Mac and run it by hand (`python3 envgen/doctor/probe.py > probe.json`);
`envgen doctor --probe-result probe.json` then reports on the result.
"""

import glob
import json
import os
import platform
import signal
import subprocess
import sys
import time

PROBE_SCHEMA = 1
STDERR_TAIL = 3000


def _sysctl(name):
    """The value of a sysctl key, or None where it does not exist (Linux, Intel Macs
    for some keys)."""
    for exe in ("/usr/sbin/sysctl", "/sbin/sysctl", "sysctl"):
        try:
            done = subprocess.run(
                [exe, "-n", name],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                timeout=10,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if done.returncode == 0:
            return done.stdout.decode("utf-8", "replace").strip()
        return None
    return None


def _machine():
    uname = platform.uname()
    darwin = uname.system == "Darwin"
    mac = platform.mac_ver()[0] if darwin else ""
    return {
        "system": uname.system,
        "release": uname.release,
        "machine": platform.machine(),
        "mac_ver": mac,
        # platform.mac_ver() says 10.16 in a Python built against an SDK older than
        # macOS 11; the kernel knows better.
        "os_product_version": _sysctl("kern.osproductversion") if darwin else None,
        # 1 when this process is an x86_64 binary translated by Rosetta 2, 0 when
        # native, None when unknown.
        "proc_translated": _sysctl("sysctl.proc_translated") if darwin else None,
        # 1 on Apple Silicon hardware, even when asked from a translated process.
        "hw_arm64": _sysctl("hw.optional.arm64") if darwin else None,
    }


def _python():
    return {
        "version": platform.python_version(),
        "version_info": list(sys.version_info[:3]),
        "sys_version": sys.version,
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "prefix": sys.prefix,
        "base_prefix": getattr(sys, "base_prefix", sys.prefix),
        "pointer_bits": 64 if sys.maxsize > 2 ** 32 else 32,
    }


def _read_json(path):
    try:
        with open(path, "rb") as handle:
            return json.loads(handle.read().decode("utf-8", "replace"))
    except (OSError, ValueError):
        return None


def _conda_records(prefix):
    """The conda-meta records of a prefix: name, version, build, channel, subdir; plus
    every file they own."""
    records = []
    owned = set()
    for path in sorted(glob.glob(os.path.join(prefix, "conda-meta", "*.json"))):
        record = _read_json(path)
        if not isinstance(record, dict) or "name" not in record:
            continue
        records.append({
            "name": record.get("name"),
            "version": record.get("version"),
            "build": record.get("build"),
            "channel": record.get("channel") or record.get("schannel"),
            "url": record.get("url"),
            "subdir": record.get("subdir"),
        })
        for owned_file in record.get("files") or ():
            if owned_file.endswith(("METADATA", "PKG-INFO")):
                owned.add((owned_file.replace("\\", "/"), record.get("name")))
    return records, owned


def _base_installation(prefix):
    """Where the conda installation that made this env lives, from CONDA_EXE or the
    envs/ layout."""
    candidates = []
    conda_exe = os.environ.get("CONDA_EXE") or os.environ.get("MAMBA_EXE")
    if conda_exe:
        candidates.append(os.path.dirname(os.path.dirname(conda_exe)))
    if os.path.basename(os.path.dirname(prefix)) == "envs":
        candidates.append(os.path.dirname(os.path.dirname(prefix)))
    for root in candidates:
        if os.path.isdir(os.path.join(root, "conda-meta")):
            return root
    return None


def _python_subdir(records):
    for record in records:
        if record["name"] == "python":
            return record["subdir"]
    return None


def _conda(prefix):
    meta = os.path.join(prefix, "conda-meta")
    info = {
        "is_conda_env": os.path.isdir(meta),
        "prefix": prefix,
        "env_CONDA_PREFIX": os.environ.get("CONDA_PREFIX"),
        "env_CONDA_DEFAULT_ENV": os.environ.get("CONDA_DEFAULT_ENV"),
        "env_CONDA_EXE": os.environ.get("CONDA_EXE"),
        "records": [],
        "python_subdir": None,
        "base": None,
        "base_python_subdir": None,
        "history_cmds": [],
    }
    if not info["is_conda_env"]:
        return info, set()
    records, owned = _conda_records(prefix)
    info["records"] = records
    info["python_subdir"] = _python_subdir(records)
    try:
        with open(os.path.join(meta, "history"), "rb") as handle:
            lines = handle.read().decode("utf-8", "replace").splitlines()
        commands = [
            line[len("# cmd:"):].strip() for line in lines if line.startswith("# cmd:")
        ]
        info["history_cmds"] = commands[-20:]
    except OSError:
        pass
    base = _base_installation(prefix)
    if base and os.path.realpath(base) != os.path.realpath(prefix):
        info["base"] = base
        info["base_python_subdir"] = _python_subdir(_conda_records(base)[0])
    elif base:
        info["base"] = base
        info["base_python_subdir"] = info["python_subdir"]
    return info, owned


def _site_dirs():
    dirs = []
    try:
        import site
        dirs.extend(site.getsitepackages())
        if site.ENABLE_USER_SITE:
            dirs.append(site.getusersitepackages())
    except (AttributeError, ImportError):
        pass
    for entry in sys.path:
        if entry.endswith(("site-packages", "dist-packages")) and entry not in dirs:
            dirs.append(entry)
    return [d for d in dirs if os.path.isdir(d)]


def _metadata_name_version(text):
    name = version = None
    for line in text.splitlines():
        if not line.strip():
            break
        if line.startswith("Name:") and name is None:
            name = line.split(":", 1)[1].strip()
        elif line.startswith("Version:") and version is None:
            version = line.split(":", 1)[1].strip()
    return name, version


def _distributions(prefix, owned):
    """Every installed distribution: name, version, INSTALLER, where, and the conda
    package owning it (if any)."""
    owners = {}
    for path, package in owned:
        owners[path] = package
    found = []
    seen = set()
    for site_dir in _site_dirs():
        meta_dirs = glob.glob(os.path.join(site_dir, "*.dist-info")) + glob.glob(
            os.path.join(site_dir, "*.egg-info")
        )
        for meta_dir in sorted(meta_dirs):
            metadata = os.path.join(
                meta_dir, "METADATA" if meta_dir.endswith(".dist-info") else "PKG-INFO"
            )
            if not os.path.isfile(metadata):
                continue
            try:
                with open(metadata, "rb") as handle:
                    text = handle.read(65536).decode("utf-8", "replace")
                name, version = _metadata_name_version(text)
            except OSError:
                continue
            if not name:
                continue
            key = (name.lower().replace("_", "-").replace(".", "-"), site_dir)
            if key in seen:
                continue
            seen.add(key)
            installer = None
            try:
                with open(os.path.join(meta_dir, "INSTALLER"), "rb") as handle:
                    installer = (
                        handle.read().decode("utf-8", "replace").strip() or None
                    )
            except OSError:
                pass
            relative = os.path.relpath(metadata, prefix).replace("\\", "/")
            found.append({
                "name": name,
                "version": version,
                "installer": installer,
                "location": site_dir,
                "conda_package": owners.get(relative),
            })
    return found


def _plugin_libraries():
    """The shared libraries TensorFlow (>= 2.5) loads from
    <site-packages>/tensorflow-plugins on import."""
    libraries = []
    for site_dir in _site_dirs():
        for pattern in ("*.dylib", "*.so"):
            plugins = os.path.join(site_dir, "tensorflow-plugins", pattern)
            libraries.extend(sorted(glob.glob(plugins)))
    return libraries


def _signal_name(returncode):
    if returncode is None or returncode >= 0:
        return None
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return "signal %d" % -returncode


def _tensorflow_stage_in_child(timeout):
    """Run the TensorFlow stage in a child python; a crash or hang there is a fact, not
    a failure."""
    result = {"ran": False, "timeout_seconds": timeout}
    argv = [sys.executable or "python", os.path.abspath(__file__), "--tensorflow"]
    started = time.time()
    try:
        child = subprocess.run(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout
        )
    except subprocess.TimeoutExpired as expired:
        result["timed_out"] = True
        result["seconds"] = round(time.time() - started, 2)
        stderr = (expired.stderr or b"").decode("utf-8", "replace")
        result["stderr_tail"] = stderr[-STDERR_TAIL:]
        return result
    except OSError as error:
        result["error"] = "could not start %s: %s" % (argv[0], error)
        return result
    result["ran"] = True
    result["seconds"] = round(time.time() - started, 2)
    result["returncode"] = child.returncode
    result["signal"] = _signal_name(child.returncode)
    result["stderr_tail"] = child.stderr.decode("utf-8", "replace")[-STDERR_TAIL:]
    stdout = child.stdout.decode("utf-8", "replace").strip()
    if stdout:
        try:
            result["result"] = json.loads(stdout.splitlines()[-1])
        except ValueError:
            result["stdout_tail"] = stdout[-STDERR_TAIL:]
    return result


def _error_text(error):
    return "%s: %s" % (type(error).__name__, error)


def tensorflow_stage():
    """import tensorflow, list devices, run a matmul and a conv gradient, and say where
    they ran."""
    out = {"import_ok": False, "plugin_libraries": _plugin_libraries()}
    started = time.time()
    try:
        # A broken import can raise anything, SystemExit included: hence BaseException.
        import tensorflow as tf
    except BaseException as error:  # noqa: B902
        out["import_error"] = _error_text(error)
        out["import_seconds"] = round(time.time() - started, 2)
        return out
    out["import_ok"] = True
    out["import_seconds"] = round(time.time() - started, 2)
    out["version"] = getattr(tf, "__version__", None)
    out["file"] = getattr(tf, "__file__", None)
    try:
        devices = tf.config.list_physical_devices()
        out["devices"] = [{"name": d.name, "type": d.device_type} for d in devices]
        gpus = [d for d in devices if d.device_type == "GPU"]
    except BaseException as error:  # noqa: B902
        out["devices_error"] = _error_text(error)
        gpus = []
    out["gpus"] = [d.name for d in gpus]
    growth = []
    for gpu in gpus:
        try:
            growth.append(bool(tf.config.experimental.get_memory_growth(gpu)))
        except BaseException as error:  # noqa: B902
            growth.append(_error_text(error))
    out["memory_growth"] = growth
    out["env_TF_FORCE_GPU_ALLOW_GROWTH"] = os.environ.get("TF_FORCE_GPU_ALLOW_GROWTH")
    try:
        # Default placement, as a training script gets it: does TensorFlow choose the
        # GPU by itself?
        a = tf.random.uniform((256, 256))
        product = tf.matmul(a, a)
        float(tf.reduce_sum(product).numpy())
        out["matmul_device"] = product.device
        images = tf.random.uniform((8, 28, 28, 1))
        kernel = tf.Variable(tf.random.normal((3, 3, 1, 8)))
        with tf.GradientTape() as tape:
            conv = tf.nn.conv2d(images, kernel, strides=1, padding="SAME")
            loss = tf.reduce_mean(conv ** 2)
        gradient = tape.gradient(loss, kernel)
        float(tf.reduce_sum(gradient).numpy())
        out["conv_grad_device"] = gradient.device
    except BaseException as error:  # noqa: B902
        out["op_error"] = _error_text(error)
    return out


def probe(timeout):
    started = time.time()
    prefix = sys.prefix
    conda, owned = _conda(prefix)
    result = {
        "probe_schema": PROBE_SCHEMA,
        "machine": _machine(),
        "python": _python(),
        "conda": conda,
        "distributions": _distributions(prefix, owned),
    }
    # The caller's --timeout is the whole wait.
    remaining = max(0.5, timeout - (time.time() - started) - 0.5)
    result["tensorflow"] = _tensorflow_stage_in_child(remaining)
    result["probe_seconds"] = round(time.time() - started, 2)
    return result


def _python2_answer():
    """Python 2 lacks what the probe uses; say what it is, so the doctor can name the
    problem."""
    return {
        "probe_schema": PROBE_SCHEMA,
        "machine": {
            "system": platform.system(),
            "release": platform.release(),
            "machine": platform.machine(),
            "mac_ver": platform.mac_ver()[0],
        },
        "python": {
            "version": platform.python_version(),
            "version_info": list(sys.version_info[:3]),
            "executable": sys.executable,
            "prefix": sys.prefix,
        },
        "conda": {
            "is_conda_env": os.path.isdir(os.path.join(sys.prefix, "conda-meta")),
            "prefix": sys.prefix,
            "records": [],
        },
        "distributions": [],
        "tensorflow": {"ran": False, "error": "Python 2 cannot run TensorFlow 2"},
    }


def main(argv):
    if sys.version_info[0] < 3:
        print(json.dumps(_python2_answer(), sort_keys=True, indent=1))
        return 0
    if "--tensorflow" in argv:
        print(json.dumps(tensorflow_stage(), sort_keys=True))
        sys.stdout.flush()
        # Skip interpreter teardown: some TensorFlow builds crash or hang while
        # unloading plugins.
        os._exit(0)
    timeout = 110.0
    if "--timeout" in argv:
        timeout = float(argv[argv.index("--timeout") + 1])
    print(json.dumps(probe(timeout), sort_keys=True, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
