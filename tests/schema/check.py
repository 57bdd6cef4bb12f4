#!/usr/bin/python3
"""Validates a YAML spec against the JSON Schema (python3-jsonschema, python3-yaml; tests only)."""
import sys

import jsonschema
import yaml


class Loader(yaml.SafeLoader):
    pass


# YAML 1.1 timestamps stay strings, as ubpipe reads them
Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def main():
    import json
    with open(sys.argv[1]) as f:
        schema = json.load(f)
    try:
        with open(sys.argv[2]) as f:
            doc = yaml.load(f, Loader=Loader)
    except yaml.YAMLError as e:
        print(f"{sys.argv[2]}: not YAML: {e}")
        return 1
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(doc), key=lambda e: list(e.path))
    for e in errors:
        print(f"{sys.argv[2]}: {'/'.join(map(str, e.path))}: {e.message}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
