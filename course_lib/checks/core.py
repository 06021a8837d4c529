"""What every exercise check shares: the error it raises and how it reports.

A check takes the learner's answer, compares it with a reference, and

* returns ``True`` after printing a confirmation when the answer is right;
* returns ``False`` after printing a note when the exercise is not attempted yet (``None``, or a
  function raising ``NotImplementedError``), so a notebook still runs from top to bottom;
* raises :class:`ExerciseError` saying what is wrong (which input, expected, got, a hint).

Every call of the learner's function goes through :func:`attempt`, which passes copies of the
inputs and refuses an answer that changes them in place (naming the argument: a function that
edits its input would pass here and then quietly corrupt the notebook's own data later), and
can stop a call that runs too long, even one inside a bare ``except:`` loop
(:func:`call_with_time_limit`). :func:`check_cases` is the harness every check runs its cases
through: it calls the answer on each case, compares it with the reference and, when it is
wrong, names the usual slip that explains it (:func:`slip_hint`).

:func:`course_lib.exercises.use` builds on this to hand later cells the learner's own function.
"""

from __future__ import annotations

import copy
import ctypes
import inspect
import math
import multiprocessing
import multiprocessing.connection
import sys
import threading
import time
from collections.abc import Callable, Sequence

import numpy as np

from ..errors import CourseError


class ExerciseError(CourseError, AssertionError):
    """The answer to an exercise is wrong; the message says how."""


def not_attempted(name: str) -> bool:
    """Report an exercise not attempted yet; returns False (what a check returns then)."""
    print(f"{name}: not attempted yet. Write your answer in the cell above, then run this cell "
          "again.")
    return False


def passed(name: str, detail: str) -> bool:
    """Report a correct answer; returns True (what a check returns then)."""
    print(f"✅ {name}: correct. {detail}")
    return True


class _TooSlow(BaseException):  # not an Exception: `except Exception` in an answer can't hide it
    """Raised inside a learner's function that runs past its time limit."""


def call_with_time_limit(fn: Callable, args: tuple, seconds: float):
    """``(fn(*args), args as the call left them)``, stopped with :class:`_TooSlow` once it runs
    longer than ``seconds``.

    On Linux (Colab, Binder, most laptops' containers) the call runs in a forked child
    process that is killed at the limit: nothing inside the answer, not even a bare ``except:``
    around the loop, can keep it alive, and nothing is left running. Its value (or exception)
    comes back pickled, and so do the arguments as the child left them, so that a change made in
    place is seen there too (``None`` for arguments that cannot be pickled, such as a lambda).
    Elsewhere (macOS, where forking a process with a GUI runtime is unsafe, and Windows) it runs
    in a helper thread that gets :class:`_TooSlow` raised inside it repeatedly; a thread that
    still does not stop is left behind as a daemon. Other exceptions of ``fn`` propagate either
    way.
    """
    if sys.platform.startswith("linux"):  # macOS forks unsafely once a GUI/ObjC runtime is up
        return _in_child(fn, args, seconds)
    return _in_thread(fn, args, seconds)


def _in_child(fn: Callable, args: tuple, seconds: float):
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)

    def run():
        try:
            outcome = ("value", fn(*args), args)
        except BaseException as error:  # sent to the parent, re-raised there
            outcome = ("error", error, None)
        try:
            send.send(outcome)
        except Exception:  # arguments that cannot be pickled (a function): the value alone
            try:
                send.send(outcome[:2] + (None,))
            except Exception as error:  # an unpicklable value: say so rather than hang
                send.send(("error", TypeError(f"the answer's value could not be handed back "
                                              f"from the time-limited call: {error}"), None))

    child = context.Process(target=run, name="exercise-answer", daemon=True)
    child.start()
    try:
        ready = multiprocessing.connection.wait([receive, child.sentinel], seconds)
        if not ready:
            raise _TooSlow
        if receive not in ready and not receive.poll(0.1):  # it died without an answer
            raise RuntimeError(f"the time-limited call ended without an answer (exit code "
                               f"{child.exitcode}); run the check again, or restart the kernel")
        kind, value, after = receive.recv()
    finally:
        child.kill()
        child.join()
        receive.close()
        send.close()
    if kind == "error":
        raise value
    return value, after


def _in_thread(fn: Callable, args: tuple, seconds: float):
    outcome: dict = {}

    def run():
        try:
            outcome["value"] = fn(*args)
        except BaseException as error:  # handed to the caller's thread below
            outcome["error"] = error

    worker = threading.Thread(target=run, name="exercise-answer", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        give_up = time.perf_counter() + 5.0
        while worker.is_alive() and time.perf_counter() < give_up:
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(worker.ident),
                                                       ctypes.py_object(_TooSlow))
            worker.join(0.005)
        raise _TooSlow
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"], args


def _copy(value):
    try:
        return copy.deepcopy(value)
    except Exception:  # a model with hooks, a generator, ...: passed as it is, not compared
        return value


def same(a, b) -> bool:
    """Whether ``a`` and ``b`` hold the same values (arrays and tensors element by element,
    NaN equal to NaN; containers item by item; networks by weights and hooks)."""
    return _difference(a, b) is None


def _hooked(net) -> list[str]:
    return [name or "the network" for name, m in net.named_modules()
            if m._forward_hooks or m._forward_pre_hooks or m._backward_hooks]


def _difference(a, b) -> str | None:
    """None when ``b`` holds what ``a`` held, else a few words on what changed."""
    if type(a) is not type(b):
        return f"it became a {type(b).__name__}"
    if isinstance(a, np.ndarray):
        equal = a.shape == b.shape and a.dtype == b.dtype and bool(
            np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
        return None if equal else "its values changed"
    if hasattr(a, "named_modules") and hasattr(a, "state_dict"):  # a network
        left = sorted(set(_hooked(b)) - set(_hooked(a)))
        if left:
            return (f"it still has hooks on {left[:3]}: keep the handles register_forward_hook "
                    "returns and call handle.remove() (in a finally: block)")
        return None if same(dict(a.state_dict()), dict(b.state_dict())) else (
            "its weights changed")
    if type(a).__module__.startswith("torch") and hasattr(a, "shape"):
        if a.shape != b.shape or a.dtype != b.dtype:
            return "its shape or dtype changed"
        equal = ((a == b) | (a.isnan() & b.isnan())) if a.is_floating_point() else (a == b)
        return None if bool(equal.all()) else "its values changed"
    if isinstance(a, (list, tuple, dict)):
        keys = list(a) if isinstance(a, dict) else range(len(a))
        if len(a) != len(b) or (isinstance(a, dict) and a.keys() != b.keys()):
            return "items were added or removed"
        changed = [k for k in keys if not same(a[k], b[k])]
        return None if not changed else f"item {changed[0]!r} changed"
    if type(a).__eq__ is object.__eq__:
        return None  # no notion of equal values (a tree, a sampler, ...): nothing to compare
    try:
        return None if bool(a == b) or (a != a and b != b) else "its value changed"
    except Exception:
        return None  # not comparable: nothing to say


def _copy_advice(value) -> str:
    if hasattr(value, "named_modules"):
        return "undo what you did to the network before returning."
    if isinstance(value, list):
        return "work on a copy (sorted(x) rather than x.sort(), list(x) before changing it)."
    copy_call = "clone" if type(value).__module__.startswith("torch") else "copy"
    return (f"work on a copy (x = x.{copy_call}() first, or x = x + ... instead of x += ...).")


def _argument_names(fn: Callable, n: int) -> list[str]:
    try:
        names = [p.name for p in inspect.signature(fn).parameters.values()
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        names = []
    return [f"`{names[i]}`" if i < len(names) else f"argument {i + 1}" for i in range(n)]


def attempt(name: str, fn: Callable | None, *args, seconds: float | None = None,
            slow_hint: str = " A loop that never ends?"):
    """``(True, fn(*copies of args))``, or ``(False, None)`` after reporting "not attempted".

    The learner's function gets copies, so the check's inputs stay as they were; an answer
    that changed one of its inputs in place raises :class:`ExerciseError` naming it.
    ``seconds``: a time limit for the call (:func:`call_with_time_limit`), explained in an
    :class:`ExerciseError` ending in ``slow_hint`` when it runs out."""
    if fn is None:
        not_attempted(name)
        return False, None
    given = [_copy(a) for a in args]
    kept = [_copy(a) for a in given]
    try:
        if seconds is None:
            value = fn(*given)
        else:  # a child process's changes come back with its arguments (None: not picklable)
            value, after = call_with_time_limit(fn, tuple(given), seconds)
            given = given if after is None else list(after)
    except NotImplementedError:
        not_attempted(name)
        return False, None
    except _TooSlow:
        raise ExerciseError(f"{name}: your function was still running after {seconds:g} s, so "
                            f"the check stopped it.{slow_hint}") from None
    for label, before, after in zip(_argument_names(fn, len(args)), kept, given):
        changed = None if before is after else _difference(before, after)
        if changed:
            raise ExerciseError(
                f"{name}: your function changed its input {label} in place ({changed}). Later "
                "cells pass their own data to it, which would be changed too: "
                f"{_copy_advice(before)}")
    return True, value


def describe(got) -> str:
    """A short description of an answer: a few numbers as they are (rounded to 6 significant
    digits: ``ndarray [0.25, 0.5]``, ``(0.12, 0.0975)``), a larger array by type and shape,
    anything else by its repr (cut at 60 characters)."""
    shape = getattr(got, "shape", None)
    if shape is not None and len(shape) > 0:
        values = _numbers(got) if math.prod(shape) <= 6 else None
        return (f"{type(got).__name__} {values}" if values is not None
                else f"{type(got).__name__} of shape {tuple(shape)}")
    if isinstance(got, tuple) and 0 < len(got) <= 6:
        values = [_numbers(v) for v in got]  # item by item, so an int stays an int
        if all(v is not None and len(v) == 1 for v in values):
            return "(" + ", ".join(str(v[0]) for v in values) + ("," if len(got) == 1 else "") + ")"
    text = repr(got)
    return text if len(text) <= 60 else text[:57] + "..."


def _numbers(got) -> list | None:
    """The numbers of a small array, tensor or tuple, rounded for reading; None if not numbers."""
    try:
        flat = np.asarray(got.detach().cpu() if hasattr(got, "detach") else got).ravel()
    except Exception:  # not an array of anything readable
        return None
    if flat.dtype.kind not in "biuf":
        return None
    return [v if isinstance(v, (bool, int)) else float(f"{v:.6g}") for v in flat.tolist()]


def slip_hint(got, slips, same: Callable | None = None) -> str:
    """The hint of the first slip whose value matches the learner's answer ``got``, else "".

    ``slips``: ``[(value, hint), ...]``: what each usual slip would have returned on this case
    (computed by the check, independently of the answer), or, for a slip that is a kind of
    answer rather than one value (a string, an even k, any rounding), a test
    ``value(got) -> bool``. ``same(got, value)``: the comparison (default: :func:`close`). Every
    check's search for "which slip explains this answer" goes through here."""
    same = close if same is None else same
    return next((hint for value, hint in slips if _safe(same, got, value)), "")


def close(got, value, rel: float = 1e-9, abs_tol: float = 1e-12) -> bool:
    """Numbers within ``rel``/``abs_tol``; arrays and tensors element by element."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        got = as_number(got)
        return math.isclose(got, value, rel_tol=rel, abs_tol=abs_tol)
    got_array, value_array = np.asarray(got, dtype=float), np.asarray(value, dtype=float)
    return got_array.shape == value_array.shape and bool(
        np.allclose(got_array, value_array, rtol=rel, atol=abs_tol))


def _safe(same: Callable, got, value) -> bool:
    """``same(got, value)``, or ``value(got)`` where the slip is a test; False if either fails."""
    try:
        return bool(value(got)) if callable(value) else bool(same(got, value))
    except Exception:  # an answer of another shape or type is simply not this slip
        return False


def as_number(got) -> float:
    """``float(got)`` for any number-like answer (Python, numpy or 0-d torch); NaN otherwise."""
    try:
        return float(got)
    except (TypeError, ValueError, RuntimeError):  # torch raises RuntimeError for >1 element
        return math.nan


def check_cases(name: str, fn: Callable | None, cases: Sequence[tuple], *,
                reference: Callable, slips: Sequence[tuple] | Callable, where: Callable,
                done: str, same: Callable | None = None, read: Callable | None = None,
                shown: Callable | None = None, seconds: float | None = None,
                slow_hint: str = " A loop that never ends?") -> bool:
    """The harness of every exercise check: run ``fn`` on each case, compare, name the slip.

    ``cases``: the argument tuples. ``fn(*case)`` is called through :func:`attempt` on every
    case (copies of the inputs, in-place changes refused by name, ``seconds`` per call);
    ``read(got, *case)`` turns the answer into a comparable value (default: as it is) and may
    raise :class:`ExerciseError` for an answer of the wrong kind or shape. The first case
    where ``same(value, reference(*case))`` fails (default :func:`close`) raises
    :class:`ExerciseError`: ``"{name}: {where(*case)}: expected {shown(want)}, got {answer}."
    + hint``.

    ``slips``: a table ``[(slip, hint), ...]``, ``slip(*case)`` what a usual mistake returns on
    that case (or a test ``answer -> bool``, see :func:`slip_hint`), ``hint`` a string (or
    ``hint(*case)``) that names it; or a function ``slips(*case) -> [(value, hint), ...]``
    giving the whole table of one case at once (row k is the same slip on every case). The
    slip that explains every answer wins (a pattern over all cases, where one case alone may
    be ambiguous); else the first that explains the wrong one and differs from the reference
    there.

    Returns True (after printing "correct" and ``done``), or False when not attempted.
    """
    same = close if same is None else same
    answers = []
    for case in cases:
        ok, got = attempt(name, fn, *case, seconds=seconds, slow_hint=slow_hint)
        if not ok:
            return False
        answers.append((case, got, got if read is None else read(got, *case)))
    for i, (case, got, value) in enumerate(answers):
        want = reference(*case)
        if _safe(same, value, want):
            continue
        tables = [_slips_on(slips, other) for other, _, _ in answers]  # only once it is wrong
        table = tables[i]
        hint = _pattern_hint(answers, tables, table, same) or slip_hint(
            value, [(v, text) for v, text in table if not _safe(same, want, v)], same)
        hint = hint(*case) if callable(hint) else hint
        raise wrong_answer(name, where(*case), shown(want) if shown else _shown(want), got, hint)
    return passed(name, done)


def as_array(got) -> np.ndarray | None:
    """``got`` as a float64 numpy array (torch tensors included), or None if it is not one."""
    try:
        return np.asarray(got.detach().cpu() if hasattr(got, "detach") else got, dtype=np.float64)
    except (TypeError, ValueError):
        return None


def wrong_answer(name: str, where: str, expected: str, got, hint: str = "") -> ExerciseError:
    """The error for a wrong answer, in the one wording every check uses: ``"{name}: {where}:
    expected {expected}, got {describe(got)}.{hint}"`` (for an answer of the wrong kind or shape
    found in a ``read``, too)."""
    return ExerciseError(f"{name}: {where}: expected {expected}, got {describe(got)}.{hint}")


def _slips_on(slips: Sequence[tuple] | Callable, case: tuple) -> list[tuple]:
    """``[(value, hint), ...]``: what each slip returns on ``case`` (a slip undefined there, a
    division by zero say, returns None: it is not that slip)."""
    if callable(slips):
        try:
            return list(slips(*case))
        except Exception:  # no slip is defined on this case
            return []
    table = []
    for slip, hint in slips:
        try:
            table.append((slip(*case), hint))
        except Exception:  # this slip is undefined on this case
            table.append((None, hint))
    return table


def _pattern_hint(answers: list, tables: list, table: list, same: Callable):
    """The hint (as ``table`` gives it, the wrong case's) of the first slip that explains every
    answer, else None."""
    for k, (_, hint) in enumerate(table):
        if all(k < len(rows) and _safe(same, value, rows[k][0])
               for (_, _, value), rows in zip(answers, tables)):
            return hint
    return None


def _shown(want) -> str:
    if isinstance(want, float):
        return f"{want:.6g}"
    if isinstance(want, int) and not isinstance(want, bool):
        return f"{want:,}"
    return describe(want) if getattr(want, "shape", ()) else repr(want)
