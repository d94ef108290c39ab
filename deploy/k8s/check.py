#!/usr/bin/env python3
"""Validates every manifest in deploy/k8s.

Kubernetes objects against the Kubernetes API schemas shipped by the
kubernetes-validate package (strict: unknown fields fail), KEDA ScaledObjects
against schemas/keda-scaledobject-v1alpha1.json (jsonschema), then Fleet's own
rules: every worker kind has a Deployment with probes, resource requests and
a grace period covering the drain, and a ScaledObject on its own queues whose
threshold, min and max are the scaling rule of Fleet's configuration.

usage: check.py CONFIG_JSON   (Fleet's configuration as JSON; tests/k8s_manifests.rs writes the defaults)
Prints one line per problem and exits 1 if there is any.
"""

import json
import pathlib
import sys

import jsonschema
import kubernetes_validate
import yaml

HERE = pathlib.Path(__file__).resolve().parent
KUBERNETES_VERSIONS = ["1.30.0", "1.37.0"]
KINDS = {
    "media": ["media"],
    "export": ["export.shopify", "export.etsy", "export.amazon"],
    "notify": ["notify.fanout", "notify.email", "notify.push", "notify.webhook"],
    "categorize": ["categorize"],
    "payout": ["payout"],
}


def main() -> int:
    config = json.loads(pathlib.Path(sys.argv[1]).read_text())
    keda_schema = json.loads((HERE / "schemas" / "keda-scaledobject-v1alpha1.json").read_text())
    keda = jsonschema.Draft202012Validator(keda_schema)
    problems = []
    objects = {}
    files = sorted(HERE.glob("*.yaml"))
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is None:
                continue
            kind, name = doc.get("kind"), doc.get("metadata", {}).get("name", "")
            where = f"{path.name}: {kind}/{name}"
            objects[(kind, name)] = doc
            if kind == "ScaledObject":
                for err in keda.iter_errors(doc):
                    problems.append(f"{where}: {'/'.join(map(str, err.absolute_path))}: {err.message}")
            elif kind == "Kustomization":
                for resource in doc.get("resources", []):
                    if not (HERE / resource).is_file():
                        problems.append(f"{where}: lists missing file {resource}")
                listed = set(doc.get("resources", []))
                for other in files:
                    if other.name not in listed | {"kustomization.yaml", "secret.example.yaml"}:
                        problems.append(f"{where}: does not list {other.name}")
            else:
                for version in KUBERNETES_VERSIONS:
                    try:
                        kubernetes_validate.validate(doc, version, strict=True)
                    except kubernetes_validate.ValidationError as err:
                        problems.append(f"{where} (Kubernetes {version}): {'/'.join(map(str, err.path))}: {err.message}")
                    except kubernetes_validate.SchemaNotFoundError as err:
                        problems.append(f"{where}: no Kubernetes {version} schema: {err}")
    grace = config["queue"]["shutdown_grace_secs"]
    for (kind, name), doc in objects.items():
        if kind != "Deployment":
            continue
        pod = doc["spec"]["template"]["spec"]
        if pod.get("terminationGracePeriodSeconds", 30) < grace + 5:
            problems.append(f"Deployment/{name}: terminationGracePeriodSeconds below the drain ({grace} s) + 5 s")
        for c in pod["containers"]:
            for probe in ["livenessProbe", "readinessProbe"]:
                if probe not in c:
                    problems.append(f"Deployment/{name}: container {c['name']} has no {probe}")
            requests = c.get("resources", {}).get("requests", {})
            if not {"cpu", "memory"} <= requests.keys():
                problems.append(f"Deployment/{name}: container {c['name']} lacks cpu/memory requests")
    for kind, queues in KINDS.items():
        deployment = objects.get(("Deployment", f"fleet-worker-{kind}"))
        scaled = objects.get(("ScaledObject", f"fleet-worker-{kind}"))
        if deployment is None or scaled is None:
            problems.append(f"{kind}: needs Deployment and ScaledObject fleet-worker-{kind}")
            continue
        args = deployment["spec"]["template"]["spec"]["containers"][0].get("args", [])
        if args != ["worker", kind]:
            problems.append(f"Deployment/fleet-worker-{kind}: args {args}, expected ['worker', '{kind}']")
        spec = scaled["spec"]
        rule = config["kinds"][kind]
        if spec["scaleTargetRef"]["name"] != f"fleet-worker-{kind}":
            problems.append(f"ScaledObject/fleet-worker-{kind}: scales {spec['scaleTargetRef']['name']}")
        if (spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)) != (
            rule["min_replicas"],
            rule["max_replicas"],
        ):
            problems.append(f"ScaledObject/fleet-worker-{kind}: min/max differ from kinds.{kind} in the configuration")
        waiting = [t for t in spec["triggers"] if t.get("name") == "waiting"]
        if len(waiting) != 1:
            problems.append(f"ScaledObject/fleet-worker-{kind}: needs one trigger named waiting")
            continue
        meta = waiting[0]["metadata"]
        if meta.get("threshold") != str(rule["target_per_replica"]):
            problems.append(
                f"ScaledObject/fleet-worker-{kind}: threshold {meta.get('threshold')} is not "
                f"kinds.{kind}.target_per_replica {rule['target_per_replica']}"
            )
        query = meta.get("query", "")
        if "fleet_queue_waiting" not in query or not all(
            q in query or q.split(".")[0] + "\\\\." in query for q in queues
        ):
            problems.append(f"ScaledObject/fleet-worker-{kind}: query does not read the waiting gauge of {queues}: {query}")
    for p in problems:
        print(p)
    print(f"checked {len(objects)} objects in {len(files)} files: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
