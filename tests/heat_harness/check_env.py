#!/usr/bin/env python3
"""Check Heat environment files against Heat 27 and tripleo-heat-templates 18.0.0.

Run with the python of the heat venv (scripts/venv.sh heat):

    check_env.py [--cache-dir DIR] [--roles-data FILE] FILE...
    check_env.py [--cache-dir DIR] [--roles-data FILE] --prepare

For every FILE:
  * heat.common.environment_format.parse must accept it;
  * every parameter_defaults name must be declared by a THT 18.0.0 template
    (j2 templates rendered for the roles of THT's roles_data.yaml, or of
    --roles-data) or by a template FILE's own resource_registry maps outside THT
    (an absolute path, or a path relative to FILE; followed into the templates those
    use as resource types), and its value must pass Heat's own parameter validation
    (heat.engine.parameters classes, with the schema class Heat uses for the
    declaring template's version) against every declaration;
  * names under `parameters` must be parameters of the top-level overcloud.yaml;
  * parameter_merge_strategies must name declared parameters with a strategy
    Heat knows, that Heat can apply to the parameter's type and that does not
    conflict with THT's resource registry (checked by running Heat's own
    environment merge over THT's registry followed by FILE);
  * resource_registry entries for OS::TripleO:: types must name a type THT
    knows and point to a file that exists relative to FILE or inside THT;
    a template outside THT mapped to a type must accept the properties THT's
    templates pass to that type (Heat refuses unknown properties), and its
    parameters without a default must be passed by THT or set in FILE's
    parameter_defaults (Heat refuses unassigned properties).

Output: one `PROBLEM` line per problem, `ok` / `info` lines otherwise.
Exit status: 0 all files fine, 1 at least one problem, 2 harness error.

The THT sdist is downloaded from PyPI with this venv's pip, extracted, rendered
with THT's own tools/process-templates.py and indexed once under the cache
directory (default <repo>/target/tht-18.0.0), guarded by an flock.
"""

import argparse
import collections
import difflib
import fcntl
import hashlib
import importlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import warnings

THT_VERSION = "18.0.0"
THT_NAME = "tripleo-heat-templates"
THT_INSTALL_PREFIX = "/usr/share/openstack-tripleo-heat-templates/"
# Bump when the index layout or its contents change: old indexes get rebuilt.
INDEX_FORMAT = 4
REGISTRY_FILE = "overcloud-resource-registry-puppet.yaml"
TOP_TEMPLATE = "overcloud.yaml"


class HarnessError(Exception):
    pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def quiet_heat():
    """Heat and its libraries warn on import (eventlet, deprecations)."""
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)


def load_yaml(text):
    """YAML the way Heat loads templates and environments."""
    from heat.common import template_format

    return template_format.yaml.load(text, Loader=template_format.yaml_loader)


# ---------------------------------------------------------------- preparation


def default_cache_dir():
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.path.join(repo, "target", "tht-" + THT_VERSION)


def atomic_replace_dir(tmp, final):
    if os.path.exists(final):
        shutil.rmtree(final)
    os.rename(tmp, final)


def fetch_sdist(cache):
    sdist = os.path.join(cache, "dl", "%s-%s.tar.gz" % (THT_NAME, THT_VERSION))
    if os.path.isfile(sdist):
        return sdist
    tmp = os.path.join(cache, "dl.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    log("downloading %s==%s sdist from PyPI" % (THT_NAME, THT_VERSION))
    cmd = [
        sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
        "--no-deps", "--no-binary", ":all:", "%s==%s" % (THT_NAME, THT_VERSION), "-d", tmp,
    ]
    res = subprocess.run(cmd, stdout=sys.stderr, stderr=sys.stderr)
    if res.returncode != 0:
        raise HarnessError("pip download of %s==%s failed (exit %d)" % (THT_NAME, THT_VERSION, res.returncode))
    got = os.path.join(tmp, os.path.basename(sdist))
    if not os.path.isfile(got):
        raise HarnessError("pip download did not produce %s (got %s)" % (got, os.listdir(tmp)))
    atomic_replace_dir(tmp, os.path.join(cache, "dl"))
    return sdist


def extract_sdist(cache, sdist):
    src = os.path.join(cache, "src")
    if os.path.isfile(os.path.join(src, ".complete")):
        return src
    tmp = src + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    top = "%s-%s" % (THT_NAME, THT_VERSION)
    with tarfile.open(sdist) as tf:
        kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tf.extractall(tmp, **kwargs)
    inner = os.path.join(tmp, top)
    if not os.path.isfile(os.path.join(inner, "roles_data.yaml")):
        raise HarnessError("unexpected sdist layout: no %s/roles_data.yaml" % top)
    shutil.rmtree(src, ignore_errors=True)
    os.rename(inner, src)
    shutil.rmtree(tmp)
    open(os.path.join(src, ".complete"), "w").close()
    return src


def render(cache, src, roles_data):
    """Render THT's j2 templates with THT's own tools/process-templates.py."""
    if roles_data is None:
        key = "default"
        roles_rel = "roles_data.yaml"
    else:
        with open(roles_data, "rb") as f:
            key = hashlib.sha256(f.read()).hexdigest()[:12]
        roles_rel = os.path.abspath(roles_data)
    out = os.path.join(cache, "rendered-" + key)
    if os.path.isfile(os.path.join(out, ".complete")):
        return out
    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    log("rendering THT j2 templates (roles: %s)" % (roles_data or "THT roles_data.yaml"))
    cmd = [
        sys.executable, os.path.join("tools", "process-templates.py"), "-p", ".",
        "-r", roles_rel, "-n", "network_data_default.yaml", "-o", tmp,
    ]
    res = subprocess.run(cmd, cwd=src, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if res.returncode != 0:
        raise HarnessError("process-templates.py failed (exit %d):\n%s" % (res.returncode, res.stdout[-4000:]))
    open(os.path.join(tmp, ".complete"), "w").close()
    atomic_replace_dir(tmp, out)
    return out


def schema_class_paths():
    """Heat's template version -> parameter schema class, resolved once through
    Heat's own `heat.templates` entry points (importing them all is slow)."""
    from importlib.metadata import entry_points

    out = {}
    for ep in entry_points(group="heat.templates"):
        cls = ep.load()
        psc = getattr(cls, "param_schema_class", None)
        if psc is not None:
            out[ep.name] = "%s:%s" % (psc.__module__, psc.__qualname__)
    return out


def build_index(rendered, src, roles_file):
    with open(roles_file, encoding="utf-8") as fh:
        roles = [r["name"] for r in load_yaml(fh.read()) if isinstance(r, dict) and "name" in r]
    params = collections.defaultdict(list)
    types_used = set()
    env_registry_types = set()
    n_templates = 0
    for d, dirs, files in os.walk(rendered):
        dirs.sort()
        for f in sorted(files):
            if not f.endswith(".yaml"):
                continue
            path = os.path.join(d, f)
            rel = os.path.relpath(path, rendered)
            try:
                with open(path, encoding="utf-8") as fh:
                    doc = load_yaml(fh.read())
            except Exception:  # not every .yaml in the sdist is valid YAML on its own
                continue
            if not isinstance(doc, dict):
                continue
            if isinstance(doc.get("resource_registry"), dict):
                env_registry_types.update(k for k in doc["resource_registry"] if isinstance(k, str))
            if "heat_template_version" not in doc:
                continue
            n_templates += 1
            version = "heat_template_version.%s" % doc["heat_template_version"]
            for name, schema in (doc.get("parameters") or {}).items():
                params[name].append({"file": rel, "version": version, "schema": schema})
            for res in (doc.get("resources") or {}).values():
                if isinstance(res, dict) and isinstance(res.get("type"), str):
                    types_used.add(res["type"])
    with open(os.path.join(rendered, REGISTRY_FILE), encoding="utf-8") as fh:
        registry_text = fh.read()
    registry = load_yaml(registry_text)
    return {
        "format": INDEX_FORMAT,
        "tht_version": THT_VERSION,
        "rendered": rendered,
        "src": src,
        "n_templates": n_templates,
        "roles": roles,
        "params": params,
        "top_params": sorted(
            e_name for e_name, decls in params.items() if any(d["file"] == TOP_TEMPLATE for d in decls)
        ),
        "registry_file": REGISTRY_FILE,
        "registry_types": sorted(registry.get("resource_registry", {})),
        "registry_strategies": registry.get("parameter_merge_strategies", {}),
        "known_types": sorted(types_used | env_registry_types),
        "schema_classes": schema_class_paths(),
    }


def prepare(cache, roles_data):
    """Download, extract, render and index THT once; safe to call concurrently."""
    cache = os.path.abspath(cache)
    os.makedirs(cache, exist_ok=True)
    with open(os.path.join(cache, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        sdist = fetch_sdist(cache)
        src = extract_sdist(cache, sdist)
        rendered = render(cache, src, roles_data)
        index_path = os.path.join(rendered, ".index.json")
        if os.path.isfile(index_path):
            with open(index_path, encoding="utf-8") as fh:
                index = json.load(fh)
            if index.get("format") == INDEX_FORMAT and index.get("rendered") == rendered:
                return index
        log("indexing THT %s template parameters" % THT_VERSION)
        index = build_index(rendered, src, roles_data or os.path.join(src, "roles_data.yaml"))
        tmp = index_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(index, fh, default=str)
        os.replace(tmp, index_path)
        # Round-trip so a fresh and a cached index behave identically.
        with open(index_path, encoding="utf-8") as fh:
            return json.load(fh)


# ---------------------------------------------------------------- checking


class Checker:
    def __init__(self, index):
        from heat.common import environment_format, environment_util, exception
        from heat.engine import constraints, parameters

        self.index = index
        self.env_fmt = environment_format
        self.env_util = environment_util
        self.exception = exception
        self.constraints = constraints
        self.parameters = parameters
        self._schema_cache = {}
        self.problems = 0
        # Parameters declared by the templates the file being checked maps itself.
        self.local_params = {}
        self.local_templates = []
        self.rendered = index["rendered"]
        self.src = index["src"]
        self.known_types = set(index["known_types"]) | set(index["registry_types"])
        # Suffixes THT declares for every role (ExtraConfig, Count, Parameters, ...).
        per_role = [
            {n[len(r):] for n in index["params"] if n.startswith(r) and len(n) > len(r)} for r in index["roles"]
        ]
        self.role_suffixes = set.intersection(*per_role) if per_role else set()

    # -- output
    def problem(self, path, key, msg):
        self.problems += 1
        print("PROBLEM %s: %s: %s" % (path, key, msg), flush=True)

    def info(self, path, key, msg):
        print("info %s: %s: %s" % (path, key, msg), flush=True)

    # -- schemas
    def schema_class(self, version):
        target = self.index["schema_classes"].get(version)
        if target is None:
            raise HarnessError("Heat has no template version %s" % version)
        mod, _, attr = target.partition(":")
        return getattr(importlib.import_module(mod), attr)

    def schema(self, name, decl):
        key = (name, decl["file"])
        if key not in self._schema_cache:
            cls = self.schema_class(decl["version"])
            self._schema_cache[key] = cls.from_dict(name, decl["schema"])
        return self._schema_cache[key]

    def distinct_decls(self, name):
        """Declarations with distinct schemas (most THT names are declared in
        many templates with the same type)."""
        seen = {}
        for decl in self.index["params"].get(name, []) + self.local_params.get(name, []):
            k = json.dumps(decl["schema"], sort_keys=True, default=str) + decl["version"]
            if k in seen:
                seen[k]["also"] += 1
            else:
                seen[k] = dict(decl, also=0)
        return list(seen.values())

    def where(self, decl):
        more = " (+%d more)" % decl["also"] if decl["also"] else ""
        return "%s%s" % (decl["file"], more)

    def suggest(self, name, pool):
        close = difflib.get_close_matches(name, pool, n=3, cutoff=0.8)
        hint = "; did you mean %s?" % " or ".join(close) if close else ""
        for suffix in self.role_suffixes:
            role = name[: -len(suffix)] if name.endswith(suffix) else ""
            if role[:1].isupper() and role.isidentifier():
                hint += " (roles checked: %s; for a custom role %s pass --roles-data with your roles_data.yaml)" % (
                    ",".join(self.index["roles"]), role)
                break
        return hint

    def validate_value(self, path, section, name, value, decls):
        """Heat's own parameter validation against each declaration."""
        for decl in decls:
            ptype = decl["schema"].get("type") if isinstance(decl["schema"], dict) else None
            label = "%s.%s (declared %s in %s)" % (section, name, ptype, self.where(decl))
            if value is None:
                self.problem(path, label, "value is null: Heat skips null parameter values, so this sets nothing")
                continue
            try:
                schema = self.schema(name, decl)
            except Exception as exc:
                raise HarnessError("cannot build Heat schema for %s from %s: %s" % (name, decl["file"], exc))
            # Custom constraints (nova.flavor, ...) need a live cloud: skip them.
            saved = schema.constraints
            schema.constraints = [c for c in saved if not isinstance(c, self.constraints.CustomConstraint)]
            try:
                param = self.parameters.Parameter(name, schema, value)
                param.validate(validate_value=True)
                if schema.type == schema.MAP:
                    parsed = param.value()
                    if not isinstance(parsed, (dict, list)):
                        raise ValueError(
                            "json value is a %s; Heat accepts it but THT uses json parameters "
                            "as mappings or lists" % type(parsed).__name__
                        )
            except (self.exception.StackValidationFailed, ValueError, TypeError) as exc:
                self.problem(path, label, str(exc))
            finally:
                schema.constraints = saved

    # -- sections
    def check_parameter_defaults(self, path, section_value):
        if not isinstance(section_value, dict):
            self.problem(path, "parameter_defaults", "must be a mapping, got %s" % type(section_value).__name__)
            return 0
        declared = list(self.index["params"]) + list(self.local_params)
        mapped = " nor of the %d template%s its resource_registry brings in" % (
            len(self.local_templates), "" if len(self.local_templates) == 1 else "s") \
            if self.local_templates else ""
        for name, value in section_value.items():
            decls = self.distinct_decls(name)
            if not decls:
                self.problem(
                    path,
                    "parameter_defaults.%s (declared: nowhere)" % name,
                    "not a parameter of any tripleo-heat-templates %s template%s; Heat silently ignores it%s"
                    % (THT_VERSION, mapped, self.suggest(name, declared)),
                )
                continue
            self.validate_value(path, "parameter_defaults", name, value, decls)
        return len(section_value)

    def check_parameters(self, path, section_value):
        """`parameters` only reach the top-level template (overcloud.yaml)."""
        if not isinstance(section_value, dict):
            self.problem(path, "parameters", "must be a mapping, got %s" % type(section_value).__name__)
            return
        top = self.index["top_params"]
        for name, value in section_value.items():
            decls = [d for d in self.distinct_decls(name) if d["file"] == TOP_TEMPLATE]
            if not decls:
                elsewhere = " (it is a parameter of nested templates: use parameter_defaults)" if self.distinct_decls(name) else ""
                self.problem(
                    path,
                    "parameters.%s (declared: not in %s)" % (name, TOP_TEMPLATE),
                    "Heat rejects parameters the top-level template does not declare%s%s"
                    % (elsewhere, self.suggest(name, top)),
                )
                continue
            self.validate_value(path, "parameters", name, value, decls)

    def check_merge_strategies(self, path, env, text):
        strategies = env.get(self.env_fmt.PARAMETER_MERGE_STRATEGIES)
        if strategies is None:
            return
        if not isinstance(strategies, dict):
            self.problem(path, "parameter_merge_strategies", "must be a mapping")
            return
        allowed = self.env_util.ALLOWED_PARAM_MERGE_STRATEGIES
        ok = True
        for name, strategy in strategies.items():
            decls = self.distinct_decls(name) if name != "default" else []
            ptype = decls[0]["schema"].get("type") if decls else None
            label = "parameter_merge_strategies.%s (declared %s)" % (name, ptype or "nowhere")
            if strategy not in allowed:
                # Heat silently falls back to the default (overwrite) for unknown names.
                self.problem(path, label, "strategy %r is not one of %s; Heat silently treats it as overwrite"
                             % (strategy, "|".join(allowed)))
                ok = False
            if name == "default":
                continue
            if not decls:
                self.problem(path, label, "not a parameter of any tripleo-heat-templates %s template%s"
                             % (THT_VERSION, self.suggest(name, self.index["params"])))
                ok = False
                continue
            if strategy in ("merge", "deep_merge") and ptype == "boolean":
                self.problem(path, label, "Heat cannot %s a boolean parameter" % strategy)
                ok = False
            tht = self.index["registry_strategies"].get(name)
            if tht is not None and strategy in allowed and tht != strategy:
                self.problem(path, label, "conflicts with %r set for it in THT's %s; Heat refuses conflicting strategies"
                             % (tht, self.index["registry_file"]))
                ok = False
        if ok:
            self.heat_merge(path, text)

    def heat_merge(self, path, text):
        """Run Heat's own environment merge: THT's registry, then this file."""
        with open(os.path.join(self.rendered, self.index["registry_file"]), encoding="utf-8") as fh:
            registry_text = fh.read()
        registry = load_yaml(registry_text)
        env = self.env_fmt.parse(text)
        names = set(registry.get("parameter_defaults", {})) | set(env.get("parameter_defaults", {}))
        names |= set(env.get("parameters", {}) or {})
        schemata = {}
        for name in names:
            decls = self.distinct_decls(name)
            if decls:
                schemata[name] = self.schema(name, decls[0])
        params = {}
        self.env_fmt.default_for_missing(params)
        files = {self.index["registry_file"]: registry_text, path: text}
        try:
            self.env_util.merge_environments([self.index["registry_file"], path], files, params, schemata)
        except Exception as exc:
            self.problem(path, "parameter_merge_strategies", "Heat's merge_environments (after THT's registry) failed: %s" % exc)

    def resolve_registry_path(self, env_dir, value):
        if os.path.isabs(value):
            if value.startswith(THT_INSTALL_PREFIX):
                rel = value[len(THT_INSTALL_PREFIX):]
                for base, what in ((self.src, "THT install path, in the sdist"),
                                   (self.rendered, "THT install path, rendered from j2")):
                    if os.path.isfile(os.path.join(base, rel)):
                        return what
                return None
            return "absolute path" if os.path.isfile(value) else None
        if os.path.isfile(os.path.join(env_dir, value)):
            return "relative to env file"
        rel = os.path.normpath(value)
        while rel.startswith("../"):
            rel = rel[3:]
        if rel.startswith("..") or os.path.isabs(rel):
            return None
        if os.path.isfile(os.path.join(self.src, rel)):
            return "THT-relative, in the sdist: %s" % rel
        if os.path.isfile(os.path.join(self.rendered, rel)):
            return "THT-relative, rendered from j2: %s" % rel
        return None

    def check_resource_registry(self, path, registry, prefix="resource_registry"):
        if not isinstance(registry, dict):
            self.problem(path, prefix, "must be a mapping")
            return
        env_dir = os.path.dirname(os.path.abspath(path))
        for rtype, value in registry.items():
            key = "%s.%s" % (prefix, rtype)
            if rtype == "resources" and isinstance(value, dict):
                for rname, sub in value.items():
                    self.check_resource_registry(path, sub, "%s.resources.%s" % (prefix, rname))
                continue
            if not isinstance(rtype, str) or not rtype.startswith("OS::TripleO::"):
                continue
            if rtype not in self.known_types and "*" not in rtype:
                self.problem(path, key, "no tripleo-heat-templates %s template or registry uses this type; "
                             "Heat silently ignores the mapping%s" % (THT_VERSION, self.suggest(rtype, self.known_types)))
            if not isinstance(value, str):
                self.problem(path, key, "must map to a template path or a resource type, got %s" % type(value).__name__)
                continue
            if "/" not in value and not value.endswith(".yaml"):
                self.info(path, key, "maps to resource type %s" % value)
                continue
            found = self.resolve_registry_path(env_dir, value)
            if found is None:
                self.problem(path, key, "template %s exists neither relative to the env file nor in "
                             "tripleo-heat-templates %s" % (value, THT_VERSION))
            else:
                self.info(path, key, "-> %s (%s)" % (value, found))

    # -- templates the file maps itself
    def local_template(self, base_dir, value):
        """The file a resource_registry target or a resource type names when it is a
        template outside THT (absolute, or relative to base_dir), else None."""
        if not isinstance(value, str) or ("/" not in value and not value.endswith((".yaml", ".template"))):
            return None
        if value.startswith("file://"):
            value = value[len("file://"):]
        if "://" in value:
            return None
        if os.path.isabs(value):
            if value.startswith(THT_INSTALL_PREFIX):
                return None
            return value if os.path.isfile(value) else None
        full = os.path.normpath(os.path.join(base_dir, value))
        return full if os.path.isfile(full) else None

    def collect_local_params(self, path, registry):
        """Declarations of the templates FILE's resource_registry maps outside THT, and of
        the templates those use as resource types: Heat passes parameter_defaults to every
        nested stack that declares the name."""
        self.local_params = collections.defaultdict(list)
        self.local_templates = []
        if not isinstance(registry, dict):
            return

        def entries(reg, prefix):
            for rtype, value in reg.items():
                if rtype == "resources" and isinstance(value, dict):
                    for rname, sub in value.items():
                        if isinstance(sub, dict):
                            yield from entries(sub, "%s.resources.%s" % (prefix, rname))
                else:
                    yield "%s.%s" % (prefix, rtype), value

        env_dir = os.path.dirname(os.path.abspath(path))
        todo = []
        for key, value in entries(registry, "resource_registry"):
            full = self.local_template(env_dir, value)
            if full is not None:
                todo.append((full, key))
        seen = set()
        while todo:
            tpath, via = todo.pop(0)
            if tpath in seen:
                continue
            seen.add(tpath)
            try:
                with open(tpath, encoding="utf-8") as fh:
                    doc = load_yaml(fh.read())
            except Exception as exc:
                self.problem(path, via, "cannot load template %s to collect its parameters: %s"
                             % (tpath, " ".join(str(exc).split())))
                continue
            if not isinstance(doc, dict) or "heat_template_version" not in doc:
                self.problem(path, via, "%s is not a Heat template (no heat_template_version)" % tpath)
                continue
            version = "heat_template_version.%s" % doc["heat_template_version"]
            if version not in self.index["schema_classes"]:
                self.problem(path, via, "%s: Heat has no template version %s" % (tpath, doc["heat_template_version"]))
                continue
            self.local_templates.append(tpath)
            names = []
            params = doc.get("parameters") or {}
            for name, schema in params.items() if isinstance(params, dict) else []:
                decl = {"file": tpath, "version": version, "schema": schema}
                try:
                    self.schema(name, decl)
                except Exception as exc:
                    self.problem(path, "%s (%s)" % (via, tpath), "Heat rejects the declaration of parameter %s: %s"
                                 % (name, " ".join(str(exc).split())))
                    continue
                self.local_params[name].append(decl)
                names.append(name)
            self.info(path, via, "%s declares %d parameters: %s" % (tpath, len(names), ", ".join(names) or "-"))
            resources = doc.get("resources") or {}
            for rname, res in resources.items() if isinstance(resources, dict) else []:
                nested = self.local_template(os.path.dirname(tpath), res.get("type") if isinstance(res, dict) else None)
                if nested is not None:
                    todo.append((nested, "%s -> %s.resources.%s" % (via, os.path.basename(tpath), rname)))

    def tht_callers(self, rtype):
        """(THT file, resource, property names) for each THT resource of type rtype."""
        cache = self.__dict__.setdefault("_callers", {})
        if rtype not in cache:
            found = []
            needle = rtype.encode()
            for d, dirs, files in os.walk(self.rendered):
                dirs.sort()
                for f in sorted(files):
                    if not f.endswith(".yaml"):
                        continue
                    full = os.path.join(d, f)
                    with open(full, "rb") as fh:
                        if needle not in fh.read():
                            continue
                    try:
                        with open(full, encoding="utf-8") as fh:
                            doc = load_yaml(fh.read())
                    except Exception:
                        continue
                    resources = doc.get("resources") if isinstance(doc, dict) else None
                    for rname, res in (resources or {}).items() if isinstance(resources, dict) else []:
                        if isinstance(res, dict) and res.get("type") == rtype:
                            props = res.get("properties") or {}
                            found.append((os.path.relpath(full, self.rendered), rname,
                                          sorted(props) if isinstance(props, dict) else []))
            cache[rtype] = found
        return cache[rtype]

    def check_mapped_interfaces(self, path, env):
        """A template outside THT mapped to an OS::TripleO:: type THT uses replaces THT's
        nested stack: Heat passes it THT's properties and needs a value for each of its
        parameters without a default."""
        registry = env.get(self.env_fmt.RESOURCE_REGISTRY)
        if not isinstance(registry, dict):
            return
        defaults = env.get(self.env_fmt.PARAMETER_DEFAULTS) or {}
        env_dir = os.path.dirname(os.path.abspath(path))
        for rtype, value in registry.items():
            full = self.local_template(env_dir, value)
            if full is None or not isinstance(rtype, str) or not rtype.startswith("OS::TripleO::"):
                continue
            try:
                with open(full, encoding="utf-8") as fh:
                    doc = load_yaml(fh.read())
                params = doc.get("parameters") or {}
                assert isinstance(params, dict)
            except Exception:
                continue  # reported by collect_local_params
            key = "resource_registry.%s" % rtype
            for tht_file, rname, props in self.tht_callers(rtype):
                for prop in props:
                    if prop not in params:
                        self.problem(path, key, "THT's %s passes property %s to resources.%s; %s does not declare "
                                     "it, so Heat refuses the nested stack (Unknown Property)"
                                     % (tht_file, prop, rname, full))
                for name, decl in params.items():
                    if isinstance(decl, dict) and "default" not in decl and name not in props and name not in defaults:
                        self.problem(path, key, "parameter %s of %s has no default, THT's %s does not pass it "
                                     "(resources.%s) and this file's parameter_defaults do not set it: Heat "
                                     "refuses the nested stack (Property %s not assigned)"
                                     % (name, full, tht_file, rname, name))
                self.info(path, key, "THT's %s resources.%s passes %s to %s"
                          % (tht_file, rname, ", ".join(props) or "no properties", full))

    def check_file(self, path):
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            self.problem(path, "(file)", "cannot read: %s" % exc)
            return
        try:
            env = self.env_fmt.parse(text)
        except Exception as exc:
            msg = " ".join(str(exc).split())
            self.problem(path, "(environment)", "heat.common.environment_format.parse rejects it: %s" % msg)
            return
        before = self.problems
        n = 0
        self.collect_local_params(path, env.get(self.env_fmt.RESOURCE_REGISTRY) or {})
        if self.env_fmt.PARAMETER_DEFAULTS in env:
            n = self.check_parameter_defaults(path, env[self.env_fmt.PARAMETER_DEFAULTS])
        if self.env_fmt.PARAMETERS in env:
            self.check_parameters(path, env[self.env_fmt.PARAMETERS])
        self.check_merge_strategies(path, env, text)
        if self.env_fmt.RESOURCE_REGISTRY in env:
            self.check_resource_registry(path, env[self.env_fmt.RESOURCE_REGISTRY])
            self.check_mapped_interfaces(path, env)
        if self.problems == before:
            mapped = " and %d template%s its resource_registry brings in" % (
                len(self.local_templates), "" if len(self.local_templates) == 1 else "s") \
                if self.local_templates else ""
            print("ok %s: parsed by Heat; %d parameter_defaults valid for tripleo-heat-templates %s (%d templates)%s"
                  % (path, n, THT_VERSION, self.index["n_templates"], mapped), flush=True)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache-dir", default=os.environ.get("OVERCLOUD_KEYS_THT_DIR") or default_cache_dir())
    ap.add_argument("--roles-data", help="roles_data.yaml to render THT's role templates with "
                    "(default: THT's own roles_data.yaml)")
    ap.add_argument("--prepare", action="store_true", help="only download, render and index THT")
    ap.add_argument("files", nargs="*")
    args = ap.parse_args(argv)
    if not args.prepare and not args.files:
        ap.error("no environment files given")
    quiet_heat()
    try:
        index = prepare(os.path.abspath(args.cache_dir), args.roles_data)
        if args.prepare:
            print("prepared %s" % index["rendered"])
            return 0
        checker = Checker(index)
        for path in args.files:
            checker.check_file(path)
    except HarnessError as exc:
        log("harness error: %s" % exc)
        return 2
    except Exception as exc:  # a bug here must not look like a verdict on the files
        import traceback

        traceback.print_exc()
        log("harness error: %s: %s" % (type(exc).__name__, exc))
        return 2
    return 1 if checker.problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
