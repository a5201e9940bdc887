#!/usr/bin/env python3
"""schema-check.py - the JSON Schema half of t0200-schema-agreement.sh.

  schema-check.py audit SCHEMA
      Only keywords that mean the same in draft-07 and 2020-12, $ref alone
      and only to #/definitions/NAME, a description on every property; the
      schema is a valid draft-07 schema, and also a valid 2020-12 one when
      declared as such. Prints one problem per line; exit 1 if any.
  schema-check.py validate SCHEMA FILE...
      Prints "DRAFT VERDICT FILE" for each file and each of draft7 and
      2020-12 (VERDICT: valid, invalid or error), then the first error of
      an invalid file as "#   ..." lines.

Uses Debian's python3-jsonschema and python3-yaml (nothing is fetched).
YAML is read with YAML 1.2 booleans (only true/false), as libyaml leaves
`on:` a string and editors' YAML language servers read it; PyYAML's YAML
1.1 rules would turn the key `on` into True.
"""
import copy
import json
import re
import sys

import jsonschema
import yaml

ALLOWED = {
    "$schema", "$id", "$ref", "definitions", "type", "properties",
    "required", "additionalProperties", "patternProperties", "enum", "const",
    "items", "oneOf", "anyOf", "allOf", "pattern", "minimum", "maximum",
    "minItems", "minLength", "description", "default", "examples",
}


class Yaml12Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core booleans."""


Yaml12Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"))


def deref(root, ref):
    m = re.match(r"^#/definitions/([^/]+)$", ref)
    if m and isinstance(root.get("definitions"), dict):
        return root["definitions"].get(m.group(1))
    return None


def audit(root):
    out = []
    if root.get("$schema") != "http://json-schema.org/draft-07/schema#":
        out.append("#: $schema is not draft-07")
    if not isinstance(root.get("$id"), str) or root.get("$id") == "":
        out.append("#: no $id")

    def walk(s, at):
        if not isinstance(s, dict):
            out.append("%s: not a schema object" % at)
            return
        for k in s:
            if k not in ALLOWED:
                out.append('%s: keyword "%s"' % (at, k))
        if at != "#" and ("$schema" in s or "$id" in s):
            out.append("%s: nested $schema/$id" % at)
        if "$ref" in s:
            if len(s) != 1:
                out.append("%s: $ref with siblings" % at)
            if deref(root, s["$ref"]) is None:
                out.append("%s: $ref %s is not #/definitions/NAME"
                           % (at, s["$ref"]))
        if isinstance(s.get("items"), list):
            out.append("%s: items is an array" % at)
        for k in ("properties", "patternProperties", "definitions"):
            for name, sub in (s.get(k) or {}).items():
                walk(sub, "%s/%s/%s" % (at, k, name))
        for name, sub in (s.get("properties") or {}).items():
            d = deref(root, sub["$ref"]) if isinstance(sub, dict) and \
                "$ref" in sub else sub
            if not isinstance(d, dict) or not isinstance(
                    d.get("description"), str) or d["description"] == "":
                out.append("%s/properties/%s: no description" % (at, name))
        for k in ("items", "additionalProperties"):
            if isinstance(s.get(k), dict):
                walk(s[k], "%s/%s" % (at, k))
        for k in ("oneOf", "anyOf", "allOf"):
            if k not in s:
                continue
            if not isinstance(s[k], list):
                out.append("%s/%s: not an array" % (at, k))
            else:
                for i, sub in enumerate(s[k]):
                    walk(sub, "%s/%s/%d" % (at, k, i))

    walk(root, "#")
    return out


def validators(schema):
    """(name, validator) for draft-07 and the same schema as 2020-12."""
    s2020 = copy.deepcopy(schema)
    s2020["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return [("draft7", jsonschema.Draft7Validator(schema)),
            ("2020-12", jsonschema.Draft202012Validator(s2020))]


def check_schemas(schema):
    """Problems of the schema as a draft-07 and as a 2020-12 schema."""
    out = []
    s2020 = copy.deepcopy(schema)
    s2020["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    for name, cls, s in (("draft-07", jsonschema.Draft7Validator, schema),
                         ("2020-12", jsonschema.Draft202012Validator, s2020)):
        try:
            cls.check_schema(s)
        except jsonschema.SchemaError as e:
            out.append("#: not a valid %s schema: %s" % (name, e.message))
    # Every pattern must compile (as ajv compiles them up front).
    def patterns(s):
        if isinstance(s, dict):
            for k, v in s.items():
                if k == "pattern" and isinstance(v, str):
                    yield v
                elif k == "patternProperties" and isinstance(v, dict):
                    yield from v.keys()
                    for sub in v.values():
                        yield from patterns(sub)
                else:
                    yield from patterns(v)
        elif isinstance(s, list):
            for sub in s:
                yield from patterns(sub)
    for p in patterns(schema):
        try:
            re.compile(p)
        except re.error as e:
            out.append("#: pattern %r does not compile: %s" % (p, e))
    return out


def main(argv):
    if len(argv) < 3 or argv[1] not in ("audit", "validate"):
        sys.stderr.write("usage: schema-check.py audit|validate SCHEMA "
                         "[FILE...]\n")
        return 2
    with open(argv[2]) as f:
        schema = json.load(f)
    if argv[1] == "audit":
        problems = audit(schema) + check_schemas(schema)
        for p in problems:
            print(p)
        return 1 if problems else 0
    vs = validators(schema)
    for path in argv[3:]:
        try:
            with open(path) as f:
                doc = yaml.load(f, Loader=Yaml12Loader)
        except (OSError, yaml.YAMLError) as e:
            for name, _ in vs:
                print("%s error %s" % (name, path))
            print("#   %s" % str(e).replace("\n", " "))
            continue
        for name, v in vs:
            err = jsonschema.exceptions.best_match(v.iter_errors(doc))
            print("%s %s %s" % (name, "valid" if err is None else "invalid",
                                path))
            if err is not None:
                print("#   %s: %s at /%s" % (name, err.message[:200],
                                            "/".join(str(p) for p in
                                                     err.absolute_path)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
