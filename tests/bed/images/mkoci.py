#!/usr/bin/env python3
"""Writes an OCI image layout (oci-layout, index.json, blobs/sha256/...) from a root file system
directory: one gzip layer, an image config and a manifest. Deterministic: files sorted, owned by
0:0, mtime 0, gzip without a time stamp, so the same input gives the same digests.

usage: mkoci.py ROOTFS OUT_DIR --ref TAG [--entrypoint JSON] [--cmd JSON] [--env K=V]...
                [--port 80/tcp]... [--workdir DIR] [--stop-signal SIGQUIT]
"""
import argparse, gzip, hashlib, io, json, os, shutil, sys, tarfile


def add_blob(out, data, media_type):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(out, "blobs", "sha256", digest)
    with open(path, "wb") as f:
        f.write(data)
    return {"mediaType": media_type, "digest": "sha256:" + digest, "size": len(data)}


def layer_tar(rootfs):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def reset(ti):
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = ""
            ti.mtime = 0
            return ti
        for dirpath, dirnames, filenames in os.walk(rootfs):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, rootfs)
            if rel_dir != ".":
                tar.add(dirpath, arcname=rel_dir, recursive=False, filter=reset)
            for name in sorted(filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]):
                full = os.path.join(dirpath, name)
                arc = os.path.normpath(os.path.join(rel_dir, name))
                tar.add(full, arcname=arc, recursive=False, filter=reset)
            # Symbolic links to directories are added above as links; do not descend into them.
            dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
    return buf.getvalue()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rootfs")
    ap.add_argument("out")
    ap.add_argument("--ref", required=True, help="org.opencontainers.image.ref.name, e.g. latest")
    ap.add_argument("--entrypoint")
    ap.add_argument("--cmd")
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--port", action="append", default=[])
    ap.add_argument("--workdir", default="/")
    ap.add_argument("--stop-signal")
    a = ap.parse_args()

    if os.path.exists(a.out):
        shutil.rmtree(a.out)
    os.makedirs(os.path.join(a.out, "blobs", "sha256"))

    raw = layer_tar(a.rootfs)
    gz = io.BytesIO()
    with gzip.GzipFile(fileobj=gz, mode="wb", mtime=0, compresslevel=6) as g:
        g.write(raw)
    layer = add_blob(a.out, gz.getvalue(), "application/vnd.oci.image.layer.v1.tar+gzip")

    cfg = {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] + a.env,
           "WorkingDir": a.workdir}
    if a.entrypoint:
        cfg["Entrypoint"] = json.loads(a.entrypoint)
    if a.cmd:
        cfg["Cmd"] = json.loads(a.cmd)
    if a.port:
        cfg["ExposedPorts"] = {p: {} for p in a.port}
    if a.stop_signal:
        cfg["StopSignal"] = a.stop_signal
    config = {
        "created": "1970-01-01T00:00:00Z",
        "architecture": "amd64",
        "os": "linux",
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "tests/bed/images/mkoci.py"}],
    }
    config_desc = add_blob(a.out, json.dumps(config, sort_keys=True).encode(),
                           "application/vnd.oci.image.config.v1+json")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": config_desc, "layers": [layer]}
    man_desc = add_blob(a.out, json.dumps(manifest, sort_keys=True).encode(),
                        "application/vnd.oci.image.manifest.v1+json")
    man_desc["annotations"] = {"org.opencontainers.image.ref.name": a.ref}
    man_desc["platform"] = {"architecture": "amd64", "os": "linux"}
    with open(os.path.join(a.out, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [man_desc]}, f, sort_keys=True)
    with open(os.path.join(a.out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    print("%s layer %s (%d bytes)" % (a.out, layer["digest"], layer["size"]), file=sys.stderr)


if __name__ == "__main__":
    main()
