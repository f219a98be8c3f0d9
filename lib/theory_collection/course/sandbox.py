"""The process that runs one exercise's solution code for the grader: ``python -I sandbox.py RESULTS``.

:mod:`theory_collection.course.grader` starts this file as a script; it imports nothing of the
collection, so what a solution can reach is what this file and its job allow. The job comes as one
JSON object on stdin::

    {"setup": code the exercise allows (imports), "context": the instructor's cells it builds on,
     "solution": the student's solution cell,
     "answer": {"kind": "call" | "evaluate" | "custom", ...}, "cases": [case, ...],
     "blocked": ["package.module", "package.module:function", ...], "forbidden": [folder, ...]}

and the answers go, one JSON object a line, into the file RESULTS::

    {"event": "ready"}                                   the solution code ran
    {"event": "case", "index": k, "value": plain data}   case k's answer
    {"event": "case", "index": k, "error": "..."}        case k raised
    {"event": "failed", "error": "..."}                  the setup or the solution code raised

Before the solution runs: the blocked modules cannot be imported (a finder ahead of every other
one refuses them) and are dropped from ``sys.modules``; blocked functions are replaced by ones that
raise; and an audit hook, which Python code cannot remove, refuses to start processes, to call
native code through ctypes (only the installed packages' own libraries may be loaded, as torch
does), and to open or list anything under the forbidden folders (the
course with its hidden cases and the other students' work) or another process's ``/proc`` entry.
The reference answers are never here: the grader computes them in its own process and compares.
This is a guard within one user account, not an operating-system sandbox.
"""

import ctypes  # noqa: F401 (imported before the guard: its import opens the process's own symbols)
import importlib.abc
import json
import os
import re
import resource
import sys
import traceback

REFUSED_EVENTS = {
    "subprocess.Popen",
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.fork",
    "os.forkpty",
    "os.kill",
    "os.killpg",
    "pty.spawn",
    "ctypes.dlsym",
    "ctypes.call_function",
    "ctypes.cdata",
}
PATH_EVENTS = {"open", "os.listdir", "os.scandir", "os.chdir", "shutil.copytree", "os.rename", "os.remove"}
MAX_NUMBERS = 1_000_000  # an answer larger than this is refused rather than written out
FILE_SIZE_LIMIT = 64 * 2**20  # bytes any one file of this process may reach (results, stdout, stderr)


class Refused(RuntimeError):
    """An operation the grading process does not allow."""


class BlockedImports(importlib.abc.MetaPathFinder):
    """Refuses to import the exercise's blocked modules (and their submodules)."""

    def __init__(self, blocked: list[str]):
        self.blocked = blocked

    def find_spec(self, name, path=None, target=None):
        """Raise for a blocked name; otherwise let the other finders look."""
        if any(name == b or name.startswith(b + ".") for b in self.blocked):
            raise ModuleNotFoundError(
                f"{name} is blocked while this exercise is graded: the answer must not come from the collection"
            )
        return None


def block(blocked: list[str]) -> None:
    """Make the blocked modules unimportable and drop them from ``sys.modules``."""
    modules = [b for b in blocked if ":" not in b]
    sys.meta_path.insert(0, BlockedImports(modules))
    for name in list(sys.modules):
        if any(name == b or name.startswith(b + ".") for b in modules):
            del sys.modules[name]


def block_functions(blocked: list[str]) -> None:
    """Replace each ``module:function`` that the setup imported by a function that raises."""
    for entry in blocked:
        module_name, _, attribute = entry.partition(":")
        module = sys.modules.get(module_name)
        if attribute and module is not None and hasattr(module, attribute):

            def refuse(*args, _name=entry, **kwargs):
                raise Refused(f"{_name} is blocked while this exercise is graded")

            setattr(module, attribute, refuse)


def install_guard(forbidden: list[str]) -> None:
    """The audit hook: no new processes, no native libraries, nothing under the forbidden folders."""
    roots = [os.path.realpath(f) for f in forbidden]
    own_proc = re.compile(rf"/proc/(self|thread-self|{os.getpid()})(/|$)")
    other_proc = re.compile(r"/proc/\d+(/|$)")

    def refused_path(path) -> bool:
        if isinstance(path, int) or path is None:
            return False
        try:
            real = os.path.realpath(os.fsdecode(path))
        except (TypeError, ValueError):
            return True
        if other_proc.match(real) and not own_proc.match(real):
            return True
        return any(real == root or real.startswith(root + os.sep) for root in roots)

    installed = [os.path.realpath(p) + os.sep for p in {sys.prefix, sys.base_prefix}]

    def hook(event, args):
        if event in REFUSED_EVENTS or event.startswith("os.exec"):
            raise Refused(f"{event} is not allowed while an exercise is graded")
        if event == "ctypes.dlopen" and not (  # the installed packages' own libraries (torch loads some) only
            isinstance(args[0], str) and any(os.path.realpath(args[0]).startswith(p) for p in installed)
        ):
            raise Refused(f"ctypes.dlopen of {args[0]!r} is not allowed while an exercise is graded")
        if event in PATH_EVENTS and args and refused_path(args[0]):
            raise Refused(f"{event} of {args[0]!r} is not allowed while an exercise is graded")

    sys.addaudithook(hook)


def decode(value):
    """A job's argument: ``{"__ndarray__": data, "dtype": ...}`` becomes a numpy array, the rest stays."""
    if isinstance(value, dict):
        if "__ndarray__" in value:
            import numpy

            return numpy.asarray(value["__ndarray__"], dtype=value.get("dtype"))
        if "__sympy__" in value:
            import sympy

            return sympy.sympify(value["__sympy__"])
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def plain(value, budget: list[int]):
    """``value`` as JSON data: numbers, strings, lists, dicts; arrays and tensors as nested lists."""
    budget[0] -= 1
    if budget[0] < 0:
        raise ValueError(f"the answer holds more than {MAX_NUMBERS} values")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    module = type(value).__module__.split(".")[0]
    if module == "sympy":
        if getattr(value, "is_Boolean", False) and value in (True, False):
            return bool(value)
        if not getattr(value, "is_number", False):
            raise TypeError(f"returned the sympy expression {str(value)[:80]!r}, not a number")
        number = complex(value)
        return number.real if number.imag == 0 else [number.real, number.imag]
    if module in ("numpy", "torch"):
        if hasattr(value, "detach"):
            value = value.detach().cpu().numpy()
        if getattr(value, "shape", None) == ():
            return plain(value.item(), budget)
        if hasattr(value, "tolist") and getattr(value, "size", 0) > MAX_NUMBERS:
            raise ValueError(f"the answer holds more than {MAX_NUMBERS} values")
        return {"__ndarray__": value.tolist(), "shape": list(value.shape)}
    if isinstance(value, (list, tuple)):
        return [plain(v, budget) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [plain(v, budget) for v in value]
        return sorted(items, key=repr)
    if isinstance(value, dict):
        return {str(k): plain(v, budget) for k, v in value.items()}
    raise TypeError(f"returned a {type(value).__name__}, which the grader cannot compare")


def evaluate(namespace: dict, name: str, symbols: dict):
    """The sympy expression ``name`` of the solution at numbers for its symbols (matched by name)."""
    import sympy

    if name not in namespace:
        raise NameError(f"the solution cell does not define {name!r}")
    expression = namespace[name]
    if not isinstance(expression, sympy.Basic):
        expression = sympy.sympify(expression, strict=True)
    unknown = sorted(str(s) for s in expression.free_symbols if str(s) not in symbols)
    if unknown:
        raise ValueError(f"{name} uses symbols {unknown}; it may use only {sorted(symbols)}")
    values = {s: sympy.nsimplify(symbols[str(s)]) for s in expression.free_symbols}
    return expression.subs(values).evalf(30)


def answer_case(answer: dict, namespace: dict, adapter: dict, case):
    """One case's answer, as the exercise asks for it."""
    kind = answer["kind"]
    if kind == "call":
        name = answer["name"]
        if not callable(namespace.get(name)):
            raise NameError(f"the solution cell does not define a function {name!r}")
        return namespace[name](*decode(case.get("args", [])), **decode(case.get("kwargs", {})))
    if kind == "evaluate":
        return evaluate(namespace, answer["name"], case["symbols"])
    return adapter[answer["function"]](namespace, decode(case))


def limit_files() -> None:
    """No file this process writes (results, stdout, stderr) grows past FILE_SIZE_LIMIT."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    limit = FILE_SIZE_LIMIT if hard == resource.RLIM_INFINITY else min(FILE_SIZE_LIMIT, hard)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))


def main() -> None:
    """Run the job read from stdin; write its events into the file named by the first argument."""
    limit_files()
    job = json.loads(sys.stdin.read())
    sys.stdin.close()
    results = open(sys.argv[1], "a", buffering=1, encoding="utf-8")  # noqa: SIM115 (open for the whole run)

    def send(**event):
        results.write(json.dumps(event, allow_nan=True) + "\n")

    block(job["blocked"])
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    adapter = {"__name__": "grading_adapter", "__builtins__": __builtins__}
    try:
        exec(compile(job["setup"], "<exercise setup>", "exec"), namespace)
        exec(compile(job.get("context", ""), "<cells the exercise builds on>", "exec"), namespace)
        if job["answer"]["kind"] == "custom":
            exec(compile(job["setup"], "<exercise setup>", "exec"), adapter)
            exec(compile(job["answer"]["source"], "<grading adapter>", "exec"), adapter)
        block_functions(job["blocked"])
    except BaseException as error:  # the instructor's part: a course file error, reported as such
        send(event="failed", error="the exercise's setup failed: " + describe(error))
        return
    install_guard(job["forbidden"])
    try:
        exec(compile(job["solution"], "<solution cell>", "exec"), namespace)
    except BaseException as error:
        send(event="failed", error=describe(error))
        return
    send(event="ready")
    for index, case in enumerate(job["cases"]):
        try:
            send(
                event="case",
                index=index,
                value=plain(answer_case(job["answer"], namespace, adapter, case), [MAX_NUMBERS]),
            )
        except BaseException as error:
            send(event="case", index=index, error=describe(error))


def describe(error: BaseException) -> str:
    """``Type: message`` and the line of the solution where it was raised."""
    frames = traceback.StackSummary.extract(traceback.walk_tb(error.__traceback__), lookup_lines=False)
    where = [f for f in frames if f.filename == "<solution cell>"]
    line = f" (solution cell, line {where[-1].lineno})" if where else ""
    return f"{type(error).__name__}: {error}{line}"[:2000]


if __name__ == "__main__":
    main()
