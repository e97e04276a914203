"""A PEP 517 build backend for the kfarm client, standard library only: it packs kfarm/ and
kfarm_client.py into a pure-Python wheel. It exists because pip builds in an isolated
environment that would download setuptools, and cluster machines often cannot reach PyPI."""
import base64
import hashlib
import os
import re
import tarfile
import zipfile

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "kfarm"
TAG = "py3-none-any"


def _version():
    with open(os.path.join(HERE, "kfarm", "__init__.py")) as f:
        return re.search(r'^__version__ = "([^"]+)"', f.read(), re.M).group(1)


def _files():
    """(path in the wheel, path on disk) of every file the wheel carries."""
    out = [("kfarm_client.py", os.path.join(HERE, "kfarm_client.py"))]
    for name in sorted(os.listdir(os.path.join(HERE, "kfarm"))):
        if name.endswith(".py") or name == "py.typed":
            out.append(("kfarm/" + name, os.path.join(HERE, "kfarm", name)))
    return out


def _metadata(version):
    return ("Metadata-Version: 2.1\nName: %s\nVersion: %s\n"
            "Summary: Client of kfarm, the batch-native kernel service\n"
            "Requires-Python: >=3.9\nRequires-Dist: pyzmq>=20\n"
            "Classifier: Typing :: Typed\n" % (NAME, version))


def _digest(data):
    h = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "sha256=%s,%d" % (h, len(data))


def _dist_info(version):
    return {
        "METADATA": _metadata(version),
        "WHEEL": "Wheel-Version: 1.0\nGenerator: kfarm_wheel\nRoot-Is-Purelib: true\nTag: %s\n"
                 % TAG,
        "top_level.txt": "kfarm\nkfarm_client\n",
    }


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    version = _version()
    d = os.path.join(metadata_directory, "%s-%s.dist-info" % (NAME, version))
    os.makedirs(d, exist_ok=True)
    for name, text in _dist_info(version).items():
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
    return os.path.basename(d)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    version = _version()
    wheel = "%s-%s-%s.whl" % (NAME, version, TAG)
    info = "%s-%s.dist-info" % (NAME, version)
    record = []
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel), "w", zipfile.ZIP_DEFLATED) as z:
        entries = [(arc, open(src, "rb").read()) for arc, src in _files()]
        entries += [(info + "/" + n, t.encode()) for n, t in _dist_info(version).items()]
        for arc, data in entries:
            z.writestr(arc, data)
            record.append("%s,%s" % (arc, _digest(data)))
        record.append(info + "/RECORD,,")
        z.writestr(info + "/RECORD", "\n".join(record) + "\n")
    return wheel


def build_sdist(sdist_directory, config_settings=None):
    version = _version()
    base = "%s-%s" % (NAME, version)
    path = os.path.join(sdist_directory, base + ".tar.gz")
    with tarfile.open(path, "w:gz") as t:
        for rel in ["pyproject.toml", "build_backend/kfarm_wheel.py"] + [a for a, _ in _files()]:
            t.add(os.path.join(HERE, rel), arcname=base + "/" + rel)
        pkg_info = os.path.join(sdist_directory, "PKG-INFO.tmp")
        with open(pkg_info, "w") as f:
            f.write(_metadata(version))
        t.add(pkg_info, arcname=base + "/PKG-INFO")
        os.unlink(pkg_info)
    return os.path.basename(path)
