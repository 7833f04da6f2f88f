#!/usr/bin/env python3
"""Validate HOT templates with Heat 27's own classes, without a Heat service.

Run with the python of the heat venv (scripts/venv.sh heat):

    check_template.py [--env FILE]... [--version NAME] TEMPLATE...
    check_template.py --prepare
    check_template.py --serve

For every TEMPLATE (and, recursively, every template it uses as a resource type):
  * heat.common.template_format.parse must accept it;
  * heat_template_version must be --version (default wallaby, the HOT version THT 18 uses);
  * heat.engine.template.Template(...).validate() must accept the sections, and every
    parameter must give a schema with Heat's own parameter schema class for that version
    (constraints, hidden, ...), with a default that passes heat.engine.parameters validation;
    parameter_groups are checked by heat.engine.parameter_groups;
  * get_param / get_resource / get_attr / depends_on must name declared parameters (or
    Heat's pseudo parameters), resources, and attributes of those resources (Heat's
    attribute schema of the plugin, or the outputs of a nested template);
  * every resource is built by Heat's own engine (heat.engine.stack.Stack, as
    `openstack orchestration template validate` does, but strictly: parameters without a
    default get a placeholder value so that properties are validated with their values)
    and validated by its plugin: Heat's resource registry must know the type, and the
    plugin's properties schema (heat.engine.properties.Properties.validate) must accept the
    properties: unknown (misspelt) properties, missing required ones, wrong types;
  * a resource whose type is a template file (absolute, or relative to the template) must
    exist, is validated recursively, and the properties passed to it must be parameters
    of that template (Heat's TemplateResource also builds the nested stack and validates it).

Not checked, because they need a live cloud: custom constraints that look values up with an
OpenStack client (nova.server, neutron.network, ...; Heat's local ones such as ip_addr are
checked) and service availability (the Keystone catalog).

Output: one `PROBLEM <file>: <where> (line N): <message>` line per problem, `ok` lines
otherwise. Exit status: 0 all templates fine, 1 at least one problem, 2 harness error.

Heat's resource types are indexed once (importing all of Heat's plugins takes seconds) into
<repo>/target/heat-harness/ (or $OVERCLOUD_KEYS_HEAT_HARNESS_DIR), guarded by an flock; a check
imports only the plugin modules of the types the templates use. Importing Heat's engine still
takes about two seconds of CPU (SQLAlchemy models, oslo.policy rules), so --serve imports it
once and answers one JSON request per stdin line ({"args": [...]}, the arguments above) with one
JSON line ({"rc", "stdout", "stderr"}), each check in a forked child: a fresh Heat state
every time, in a fraction of a second.
"""

import argparse
import copy
import difflib
import fcntl
import importlib
import json
import logging
import os
import re
import sys
import warnings

# Heat imports eventlet; its green DNS module is slow to import and not needed here.
os.environ.setdefault("EVENTLET_NO_GREENDNS", "yes")

EXPECTED_VERSION = "wallaby"
# Heat accepts the release name or the date for HOT versions.
VERSION_ALIASES = {
    "wallaby": "2021-04-16",
    "rocky": "2018-08-31",
    "queens": "2018-03-02",
    "pike": "2017-09-01",
    "ocata": "2017-02-24",
    "newton": "2016-10-14",
}
INDEX_FORMAT = 2
PSEUDO_PARAMS = ("OS::stack_name", "OS::stack_id", "OS::project_id")
# Custom constraints implemented here validate locally (ip_addr, cron_expression, ...); the
# others (nova.server, neutron.network, ...) look the value up with an OpenStack client.
LOCAL_CONSTRAINTS = "heat.engine.constraint."


class HarnessError(Exception):
    pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def quiet_heat():
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)


# ---------------------------------------------------------------- type index


def default_cache_dir():
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.path.join(repo, "target", "heat-harness")


_HEAT_VERSION = []


def heat_version():
    if not _HEAT_VERSION:
        from importlib.metadata import version

        _HEAT_VERSION.append(version("openstack-heat"))
    return _HEAT_VERSION[0]


def load(target):
    """The object named by 'module:qualname'."""
    mod, _, qual = target.partition(":")
    obj = importlib.import_module(mod)
    for part in qual.split("."):
        obj = getattr(obj, part)
    return obj


def build_type_index():
    """Heat's global environment, loaded the way heat-engine loads it."""
    from heat.engine import environment, resources

    resources.initialise()
    env = resources.global_env()
    def name(cls):
        return "%s:%s" % (cls.__module__, cls.__qualname__)

    return {
        "format": INDEX_FORMAT,
        "heat_version": heat_version(),
        "resources": {
            n: name(info.value)
            for n, info in env.registry._registry.items()
            if isinstance(info, environment.ClassResourceInfo)
        },
        "constraints": {n: name(cls) for n, cls in env.constraints.items()},
    }


def type_index(cache):
    path = os.path.join(cache, "heat-%s-types.json" % heat_version())
    try:
        with open(path, encoding="utf-8") as fh:
            index = json.load(fh)
        if index.get("format") == INDEX_FORMAT:
            return index
    except (OSError, ValueError):
        pass
    os.makedirs(cache, exist_ok=True)
    with open(os.path.join(cache, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with open(path, encoding="utf-8") as fh:
                index = json.load(fh)
            if index.get("format") == INDEX_FORMAT:
                return index
        except (OSError, ValueError):
            pass
        log("indexing Heat %s resource types" % heat_version())
        index = build_type_index()
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(index, fh, sort_keys=True)
        os.replace(tmp, path)
        return index


class AnyValue:
    """Stands in for custom constraints that need a live cloud (nova.server, ...): any
    value passes."""

    message = "not checked: needs a live cloud"

    def validate(self, value, context, template=None):
        return True


def light_global_env(index, types):
    """Heat's global environment with only the plugins for `types` loaded, installed as
    heat.engine.resources' global environment (what resources.initialise() would build)."""
    from heat.common import config  # noqa: F401 (registers Heat's options: max_template_size, ...)
    from heat.engine import environment, resource, resources

    env = environment.Environment({}, user_env=False)
    for name in sorted(set(types)):
        if name in index["resources"]:
            env.register_class(name, load(index["resources"][name]))
    def local(target):
        # Heat only ever calls the registered class to instantiate it; importing the local
        # constraints pulls in neutron_lib (half a second), so only when one is used.
        return lambda: load(target)()

    for name, target in index["constraints"].items():
        env.register_constraint(name, local(target) if target.startswith(LOCAL_CONSTRAINTS) else AnyValue)
    resources._environment = env
    # Service availability asks the Keystone catalog of a live cloud.
    resource.Resource.is_service_available = classmethod(lambda cls, context: (True, None))
    return env


# ---------------------------------------------------------------- yaml lines


def node_lines(text):
    """Map a path tuple (keys / list indexes) to the 1-based line of its YAML node."""
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    out = {}

    def walk(node, path):
        out.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = k.value if isinstance(k, yaml.ScalarNode) else None
                out.setdefault(path + (key,), k.start_mark.line + 1)
                walk(v, path + (key,))
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                walk(v, path + (i,))

    if root is not None:
        walk(root, ())
    return out


# ---------------------------------------------------------------- checking


def is_template_type(rtype):
    """Heat's rule (heat.engine.environment.ResourceInfo): a type naming a template file."""
    return isinstance(rtype, str) and rtype.endswith((".yaml", ".template"))


def fmt_path(path):
    out = ""
    for p in path:
        out += "[%d]" % p if isinstance(p, int) else ("." if out else "") + str(p)
    return out or "(template)"


class Checker:
    def __init__(self, index, env_files, version):
        self.index = index
        self.version = version
        self.problems = 0
        self.file_problems = {}
        self.checked = {}
        self.env, self.env_params, self.env_files_map = {}, {}, {}
        # Template files each checked template needs (nested types, recursively).
        self.files_of = {}
        # (file, section, name) already reported, so Heat's engine is not asked to repeat it.
        self.flagged = set()
        if env_files:
            self.load_envs(env_files)

    # -- output
    def problem(self, f, path, msg, lines=None):
        self.problems += 1
        self.file_problems[f] = self.file_problems.get(f, 0) + 1
        if isinstance(path, tuple) and len(path) >= 2:
            self.flagged.add((f,) + path[:2])
        where = fmt_path(path) if isinstance(path, tuple) else path
        line = self.line_for(path, lines)
        print("PROBLEM %s: %s%s: %s" % (f, where, " (line %d)" % line if line else "", " ".join(str(msg).split())),
              flush=True)

    @staticmethod
    def line_for(path, lines):
        if not lines or not isinstance(path, tuple):
            return None
        # Heat names a nested stack's resource "Name<template url>".
        path = tuple(re.sub(r"<.*>$", "", p) if isinstance(p, str) else p for p in path)
        while path:
            if path in lines:
                return lines[path]
            path = path[:-1]
        return None

    def info(self, f, msg):
        print("info %s: %s" % (f, msg), flush=True)

    @staticmethod
    def hint(name, pool):
        close = difflib.get_close_matches(str(name), [str(p) for p in pool], n=2, cutoff=0.7)
        return "; did you mean %s?" % " or ".join(close) if close else ""

    def load_envs(self, paths):
        """The --env files as the client sends them to Heat: python-heatclient's
        template_utils (what tripleoclient uses) merges them, makes template paths in
        resource_registry file:// URLs and bundles those templates (and the templates
        they nest) into the files map."""
        from heatclient.common import template_utils

        try:
            files, env = template_utils.process_multiple_environments_and_files(
                env_paths=[os.path.abspath(p) for p in paths])
        except Exception as exc:
            raise HarnessError("--env %s: python-heatclient cannot load them: %s"
                               % (" ".join(paths), " ".join(str(exc).split())))
        self.env_files_map = files
        self.env = env
        self.env_params = dict(env.get("parameter_defaults") or {})

    def client_view(self, path, raw_files):
        """The template and files map as python-heatclient sends them to Heat (nested
        template types become file:// URLs, their contents go into the files map); the
        raw template and our own files map if heatclient cannot bundle it (a missing
        nested template, reported on its own)."""
        from heatclient.common import template_utils

        try:
            files, tpl = template_utils.get_template_contents(template_file=path)
        except Exception:
            return None, dict(self.env_files_map, **raw_files)
        return tpl, dict(self.env_files_map, **files)

    # -- entry
    def check(self, path):
        """Check one template file (once); returns its parsed template, or None."""
        from heat.common import template_format

        path = os.path.abspath(path)
        if path in self.checked:
            return self.checked[path]
        self.checked[path] = None
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            self.problem(path, "(file)", "cannot read: %s" % exc)
            return None
        lines = node_lines(text)
        try:
            t = template_format.parse(text)
        except ValueError as exc:
            self.problem(path, "(template)", "heat.common.template_format.parse rejects it: %s" % exc)
            return None
        self.checked[path] = t
        self.check_version(path, t, lines)
        self.check_heat(path, t, lines)
        if not self.file_problems.get(path):
            print("ok %s: valid for Heat %s (heat_template_version %s; %d parameters, %d resources, %d outputs)"
                  % (path, self.index["heat_version"], t.get("heat_template_version"),
                     len(t.get("parameters") or {}), len(t.get("resources") or {}), len(t.get("outputs") or {})),
                  flush=True)
        return t

    def check_version(self, path, t, lines):
        v = t.get("heat_template_version")
        if str(v) not in (self.version, VERSION_ALIASES.get(self.version)):
            self.problem(path, ("heat_template_version",),
                         "is %r; expected %s (the HOT version of the release rendered for)" % (v, self.version),
                         lines)

    # -- nested templates
    def nested_files(self, path, t, lines, files):
        """Resource types that are template files: they must exist, are checked
        recursively, and must declare the properties passed to them."""
        base = os.path.dirname(path)
        for rname, res in (t.get("resources") or {}).items():
            rtype = res.get("type") if isinstance(res, dict) else None
            if not is_template_type(rtype):
                continue
            where = ("resources", rname)
            target = rtype[len("file://"):] if rtype.startswith("file://") else rtype
            if "://" in target:
                self.problem(path, where + ("type",), "cannot check a template by URL: %s" % rtype, lines)
                continue
            full = os.path.normpath(target if os.path.isabs(target) else os.path.join(base, target))
            if not os.path.isfile(full):
                self.problem(path, where + ("type",), "nested template %s does not exist" % full, lines)
                continue
            nested = self.check(full)
            if nested is None or self.file_problems.get(full):
                # Reported for that file; Heat's nested validation would only repeat it.
                self.flagged.add((path,) + where)
                if nested is None:
                    continue
            with open(full, encoding="utf-8") as fh:
                files[rtype] = fh.read()
            files.update(self.files_of.get(full, {}))
            nparams = nested.get("parameters") or {}
            props = res.get("properties") or {}
            if not isinstance(props, dict):
                continue
            for pname in props:
                if pname not in nparams:
                    self.problem(path, where + ("properties", pname), "is not a parameter of nested template %s%s"
                                 % (full, self.hint(pname, nparams)), lines)
            for pname, decl in nparams.items():
                if isinstance(decl, dict) and "default" not in decl and pname not in props \
                        and pname not in self.env_params:
                    self.info(path, "resources.%s: nested template parameter %s has no default and is not "
                              "passed: it must come from parameter_defaults (--env)" % (rname, pname))

    # -- references
    def check_refs(self, path, t, lines, attrs_of):
        params = set(t.get("parameters") or {}) | set(PSEUDO_PARAMS)
        resources = t.get("resources") or {}

        def undeclared(where, what, name, pool):
            self.problem(path, where, "%s %r is not declared in this template%s" % (what, name, self.hint(name, pool)),
                         lines)

        def walk(node, where):
            if isinstance(node, dict):
                if len(node) == 1:
                    (fn, args), = node.items()
                    at = where + (fn,)
                    if fn == "get_param":
                        name = args[0] if isinstance(args, list) and args else args
                        if isinstance(name, str) and name not in params:
                            undeclared(at, "parameter", name, params)
                    elif fn == "get_resource":
                        if isinstance(args, str) and args not in resources:
                            undeclared(at, "resource", args, resources)
                    elif fn == "get_attr" and isinstance(args, list) and args and isinstance(args[0], str):
                        if args[0] not in resources:
                            undeclared(at, "resource", args[0], resources)
                        elif len(args) > 1 and isinstance(args[1], str):
                            known = attrs_of(args[0])
                            if known is not None and args[1] not in known:
                                self.problem(path, at, "resource %s (%s) has no attribute %r%s"
                                             % (args[0], resources[args[0]].get("type"), args[1],
                                                self.hint(args[1], known)), lines)
                for k, v in node.items():
                    walk(v, where + (k,))
            elif isinstance(node, list):
                for i, v in enumerate(node):
                    walk(v, where + (i,))

        for rname, res in resources.items():
            if not isinstance(res, dict):
                continue
            walk({k: v for k, v in res.items() if k != "type"}, ("resources", rname))
            deps = res.get("depends_on")
            for d in [deps] if isinstance(deps, str) else deps if isinstance(deps, list) else []:
                if d not in resources:
                    undeclared(("resources", rname, "depends_on"), "resource", d, resources)
        for section in ("outputs", "conditions"):
            for name, value in (t.get(section) or {}).items():
                walk(value, (section, name))

    # -- Heat's engine
    def heat_error(self, path, exc, lines, prefix=(), schema=None):
        """Report a Heat exception at the template path Heat gives (if any), after `prefix`."""
        from heat.common import exception

        msg = str(exc)
        where = tuple(prefix)
        if isinstance(exc, exception.StackValidationFailed):
            msg = str(exc.error_message or msg)
            if exc.path:
                where = where + tuple(p for p in exc.path if p is not None)
        m = re.match(r"Unknown Property (\S+)$", msg)
        if m and where and where[-1] == "properties":
            # Point at the misspelt key itself, and say what the plugin accepts.
            where = where + (m.group(1),)
            if schema is not None:
                msg += self.hint(m.group(1), schema)
        self.problem(path, where or "(template)", msg, lines)

    def check_heat(self, path, t, lines):
        from heat.common import context, exception
        from heat.engine import environment, parameter_groups, parameters, resource
        from heat.engine import stack as parser
        from heat.engine import template as templatem

        files = {}
        self.nested_files(path, t, lines, files)
        self.files_of[path] = files
        client_t, files = self.client_view(path, files)
        try:
            tmpl = templatem.Template(t, files=files, env=environment.Environment({}))
            tmpl.validate()
        except Exception as exc:
            self.heat_error(path, exc, lines)
            return

        # Parameters: Heat's schema class for this template version, then the value (the
        # --env value or the default). Parameters without either get a placeholder value.
        values = {}
        schemas_ok = True
        for name, decl in (t.get("parameters") or {}).items():
            try:
                schema = tmpl.param_schema_class.from_dict(name, decl)
                schema.validate()
            except Exception as exc:
                self.heat_error(path, exc, lines, ("parameters", name))
                # A bad default only: go on with the declaration without it.
                try:
                    schema = tmpl.param_schema_class.from_dict(
                        name, {k: v for k, v in decl.items() if k != "default"})
                    schema.validate()
                except Exception:
                    schemas_ok = False
                    continue
                t["parameters"][name] = {k: v for k, v in decl.items() if k != "default"}
            value = self.env_params.get(name)
            if value is None and schema.default is None:
                values[name] = self.placeholder(schema)
                continue
            try:
                parameters.Parameter(name, schema, value).validate(validate_value=True)
                if value is not None:
                    values[name] = value
            except Exception as exc:
                what = "parameter_defaults value from --env" if value is not None else "default"
                self.heat_error(path, exc, lines, ("parameters", name) + (("default",) if value is None else ()))
                self.info(path, "parameters.%s: the %s is invalid; using a placeholder" % (name, what))
                values[name] = self.placeholder(schema)
        if not schemas_ok:
            return
        if client_t is not None:
            client_t["parameters"] = t.get("parameters") or {}  # without the bad defaults
        try:
            parameter_groups.ParameterGroups(tmpl).validate()
        except Exception as exc:
            self.heat_error(path, exc, lines, ("parameter_groups",))

        # The stack, as heat-engine builds it for `template validate`, but strict.
        env = copy.deepcopy(self.env)
        env["parameters"] = values  # the env files' own `parameters` are for overcloud.yaml
        tmpl = templatem.Template(client_t or t, files=files, env=environment.Environment(env))
        ctx = context.RequestContext.from_dict({
            "tenant_id": "check-template", "tenant": "check-template", "username": "check-template",
            "auth_token": "none", "auth_url": "http://localhost:5000/v3",
        })
        stack = parser.Stack(ctx, "check-template", tmpl, strict_validate=True)
        try:
            stack.parameters.validate(context=ctx, validate_value=False)
            defns = tmpl.resource_definitions(stack)
        except Exception as exc:
            self.heat_error(path, exc, lines)
            return

        # Resources one by one, so that every broken one is reported.
        built = {}
        for rname, defn in defns.items():
            try:
                built[rname] = resource.Resource(rname, defn, stack)
            except Exception as exc:
                rtype = defn.resource_type
                if "could not be found" in str(exc) and isinstance(rtype, str):
                    msg = str(getattr(exc, "error_message", None) or exc)
                    hint = self.hint(rtype, self.index["resources"])
                    self.problem(path, ("resources", rname, "type"), msg.rstrip(".") + hint if hint else msg, lines)
                else:
                    self.heat_error(path, exc, lines, ("resources", rname))

        def attrs_of(rname):
            res = built.get(rname)
            if res is None:
                return None
            return set(res.attributes_schema) | set(getattr(res, "base_attributes_schema", {}))

        before = self.problems
        self.check_refs(path, t, lines, attrs_of)
        bad_refs = self.problems != before
        stack._resources = dict(built)
        data_ok = True
        try:
            stack._update_all_resource_data(for_resources=True, for_outputs=True)
        except Exception as exc:
            # Heat's dependency graph; a dangling reference was reported above already.
            if not bad_refs:
                self.heat_error(path, exc, lines)
            data_ok = False
        for rname, res in built.items():
            if (path, "resources", rname) in self.flagged:
                continue
            try:
                result = res.validate()
                if result:
                    raise exception.StackValidationFailed(message=result)
            except Exception as exc:
                prefix = () if getattr(exc, "path", None) else ("resources", rname)
                self.heat_error(path, exc, lines, prefix, schema=res.properties_schema)
        if len(built) != len(defns) or not data_ok:
            return
        for oname, output in stack.outputs.items():
            if (path, "outputs", oname) in self.flagged:
                continue
            try:
                output.validate()
            except Exception as exc:
                self.heat_error(path, exc, lines, ("outputs", oname))

    @staticmethod
    def placeholder(schema):
        for c in schema.constraints:
            allowed = getattr(c, "allowed", None)
            if allowed:
                return allowed[0]
        return {
            "String": "placeholder", "Number": 1, "Json": {}, "CommaDelimitedList": [], "Boolean": False,
        }.get(schema.type, "placeholder")


def referenced_types(paths):
    """Resource types used below the given templates (nested template files followed)."""
    from heat.common import template_format

    types = set()
    todo = [os.path.abspath(p) for p in paths]
    seen = set()
    while todo:
        p = todo.pop()
        if p in seen or not os.path.isfile(p):
            continue
        seen.add(p)
        try:
            with open(p, encoding="utf-8") as fh:
                t = template_format.yaml.load(fh.read(), Loader=template_format.yaml_loader)
            if isinstance(t, dict) and isinstance(t.get("resource_registry"), dict):  # an --env file
                regs = [t["resource_registry"]]
                while regs:
                    for value in regs.pop().values():
                        if isinstance(value, dict):
                            regs.append(value)
                        elif isinstance(value, str) and is_template_type(value):
                            todo.append(os.path.join(os.path.dirname(p), value))
                        elif isinstance(value, str):
                            types.add(value)
                continue
            resources = t["resources"]
            assert isinstance(resources, dict)
        except Exception:  # reported by the check itself
            continue
        for res in resources.values():
            rtype = res.get("type") if isinstance(res, dict) else None
            if is_template_type(rtype):
                target = rtype[len("file://"):] if rtype.startswith("file://") else rtype
                todo.append(target if os.path.isabs(target) else os.path.join(os.path.dirname(p), target))
            elif isinstance(rtype, str):
                types.add(rtype)
    return types


PRELOAD = (
    "heatclient.common.template_utils",
    "heat.common.config",
    "heat.common.context",
    "heat.common.environment_format",
    "heat.common.template_format",
    "heat.engine.environment",
    "heat.engine.parameter_groups",
    "heat.engine.parameters",
    "heat.engine.resource",
    "heat.engine.resources",
    "heat.engine.resources.openstack.heat.software_config",
    "heat.engine.resources.openstack.heat.software_deployment",
    "heat.engine.resources.template_resource",
    "heat.engine.stack",
    "heat.engine.template",
)


def serve(cache):
    """Import Heat once, then check each request in a forked child (see the module doc)."""
    import io
    import traceback

    index = type_index(cache)
    heat_version()
    for mod in PRELOAD:
        importlib.import_module(mod)
    out = sys.stdout
    out.write(json.dumps({"ready": True, "heat_version": index["heat_version"],
                          "resource_types": len(index["resources"])}) + "\n")
    out.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            args = json.loads(line)["args"]
            assert isinstance(args, list) and all(isinstance(a, str) for a in args)
        except Exception as exc:
            out.write(json.dumps({"rc": 2, "stdout": "", "stderr": "bad request: %s" % exc}) + "\n")
            out.flush()
            continue
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: one check, then _exit without touching the parent's state
            os.close(r)
            rc, buf_out, buf_err = 2, io.StringIO(), io.StringIO()
            sys.stdout, sys.stderr = buf_out, buf_err
            try:
                rc = main(["--cache-dir", cache] + args)
            except SystemExit as exc:  # argparse
                rc = exc.code if isinstance(exc.code, int) else 2
            except BaseException:
                traceback.print_exc()
            data = json.dumps({"rc": rc, "stdout": buf_out.getvalue(), "stderr": buf_err.getvalue()})
            with os.fdopen(w, "wb") as fh:
                fh.write(data.encode())
            os._exit(0)
        os.close(w)
        with os.fdopen(r, "rb") as fh:
            data = fh.read().decode()
        _, status = os.waitpid(pid, 0)
        if not data:
            data = json.dumps({"rc": 2, "stdout": "", "stderr": "checker child died (wait status %d)" % status})
        out.write(data + "\n")
        out.flush()
    return 0


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache-dir", default=os.environ.get("OVERCLOUD_KEYS_HEAT_HARNESS_DIR") or default_cache_dir())
    ap.add_argument("--env", action="append", default=[], help="environment file whose parameter_defaults "
                    "give parameter values (as Heat passes them to nested stacks)")
    ap.add_argument("--version", default=EXPECTED_VERSION, help="required heat_template_version")
    ap.add_argument("--prepare", action="store_true", help="only index Heat's resource types")
    ap.add_argument("--serve", action="store_true", help="check requests read from stdin (see above)")
    ap.add_argument("templates", nargs="*")
    args = ap.parse_args(argv)
    if not args.prepare and not args.serve and not args.templates:
        ap.error("no templates given")
    quiet_heat()
    try:
        if args.serve:
            return serve(os.path.abspath(args.cache_dir))
        index = type_index(os.path.abspath(args.cache_dir))
        if args.prepare:
            print("prepared: Heat %s, %d resource types" % (index["heat_version"], len(index["resources"])))
            return 0
        types = referenced_types(args.templates + args.env)
        light_global_env(index, types)
        checker = Checker(index, args.env, args.version)
        for path in args.templates:
            checker.check(path)
    except HarnessError as exc:
        log("harness error: %s" % exc)
        return 2
    except Exception as exc:  # a bug here must not look like a verdict on the templates
        import traceback

        traceback.print_exc()
        log("harness error: %s: %s" % (type(exc).__name__, exc))
        return 2
    return 1 if checker.problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
