"""Seeing the inside: the recorded graph as a text tree, as Graphviz DOT text or a picture, and a trace of
the backward sweep.

Every op output remembers its graph node (``tensor.grad_fn``) and every node remembers its inputs,
so the whole computation behind a tensor can be drawn: tensor boxes (shape, dtype, and after a
backward the gradient's norm) joined through op ellipses (the Function's name).

>>> import tinygrad_edu as tg
>>> x = tg.Tensor([1.0, 2.0], requires_grad=True)
>>> loss = (x * x).sum()
>>> print(to_text(loss, names={"x": x}))
Sum () float32 value 5
`-- Mul (2,) float32
    |-- [1] x: leaf (2,) float32 requires_grad=True
    `-- [1] x (shown above)

The text tree needs nothing installed. The same graph as DOT, for Graphviz:

>>> print(to_dot(loss, names={"x": x}))
digraph tinygrad_edu {
  node [fontname="Helvetica", fontsize=11];
  t0 [shape=box, style=filled, fillcolor="#cfe2ff", label="x (parameter)\\n(2,) float32"];
  op0 [shape=ellipse, style=filled, fillcolor="#eeeeee", label="Mul"];
  t1 [shape=box, label="(2,) float32"];
  op1 [shape=ellipse, style=filled, fillcolor="#eeeeee", label="Sum"];
  t2 [shape=box, style=filled, fillcolor="#ffe0b2", label="output\\n() float32\\nvalue 5"];
  t0 -> op0;
  t0 -> op0;
  op0 -> t1;
  t1 -> op1;
  op1 -> t2;
}

``trace_backward(loss)`` runs the backward sweep and reports each node as the engine visits it:

>>> steps = trace_backward(loss)
step  op   output  inputs      |grad| passed to each input
   1  Sum  ()      (2,)        1.414
   2  Mul  (2,)    (2,), (2,)  2.236, 2.236
>>> x.grad.tolist()
[2.0, 4.0]

``x * x`` uses x twice, so two arrows leave ``x`` and Mul passes it a gradient along each, x itself
(norm sqrt(5) = 2.236) each time; the engine adds the two: x.grad = 2x.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import autograd
from .atomic import atomic_write
from .tensor import Tensor
from .viz_plots import plot_digit_grid, plot_training_curves

__all__ = ["BackwardStep", "GraphvizNotFoundError", "plot_digit_grid", "plot_training_curves", "render", "to_dot",
           "to_text", "trace_backward"]

_FORMATS = ("svg", "png", "pdf")
_REPR_MAX_TENSORS = 400  # beyond this a notebook shows the plain repr rather than wait for dot
_TEXT_KEEP_LEVELS = 24  # a tree deeper than this keeps only its innermost indentation (a 100 000-op chain)
_COLORS = {"parameter": "#cfe2ff", "leaf": "#f5f5f5", "output": "#ffe0b2", "op": "#eeeeee"}


class GraphvizNotFoundError(RuntimeError):
    """``render`` needs Graphviz's ``dot`` program and it is not installed."""


# ---- the graph as DOT text ------------------------------------------------------------------


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _tensor_label(tensor: Tensor, role: str, name: str | None, show_grad: bool) -> str:
    title = name if role == "intermediate" else (f"{name} ({role})" if name else role)
    lines = [title] if title else []
    lines.append(f"{tensor.shape} {tensor.dtype}")
    if tensor.data.size == 1:
        lines.append(f"value {tensor.data.item():.4g}")
    if show_grad and tensor.grad is not None:
        lines.append(f"|grad| {np.linalg.norm(tensor.grad.data):.4g}")
    return "\n".join(lines)


def _role(tensor: Tensor, root: Tensor) -> str:
    if tensor is root:
        return "output"
    if tensor._node is None:
        return "parameter" if tensor.requires_grad else "leaf"
    return "intermediate"


def _dot_from_order(root: Tensor, order: list, show_grad: bool, names: dict | None) -> str:
    name_of = {id(t): n for n, t in (names or {}).items()}
    tensor_id = {id(t): f"t{i}" for i, t in enumerate(order)}
    lines = ["digraph tinygrad_edu {", '  node [fontname="Helvetica", fontsize=11];']
    edges, ops = [], 0
    for tensor in order:
        node = tensor._node
        if node is not None:
            op, ops = f"op{ops}", ops + 1
            label = type(node).__name__ + ("\n(freed by backward)" if node.saved is None else "")
            lines.append(f'  {op} [shape=ellipse, style=filled, fillcolor="{_COLORS["op"]}", label={_quote(label)}];')
            edges += [f"  {tensor_id[id(parent)]} -> {op};" for parent in node.inputs]
            edges.append(f"  {op} -> {tensor_id[id(tensor)]};")
        role = _role(tensor, root)
        style = "" if role == "intermediate" else f', style=filled, fillcolor="{_COLORS[role]}"'
        label = _tensor_label(tensor, role, name_of.get(id(tensor)), show_grad)
        lines.append(f"  {tensor_id[id(tensor)]} [shape=box{style}, label={_quote(label)}];")
    return "\n".join(lines + edges + ["}"])


def to_dot(tensor: Tensor, show_grad: bool = True, names: dict | None = None) -> str:
    """The graph recorded behind ``tensor`` as Graphviz DOT text.

    Tensors are boxes labelled with shape and dtype (one-element tensors also with their value):
    ``parameter`` marks a leaf with ``requires_grad=True`` (gradients accumulate into it), ``leaf``
    a constant input, ``output`` the tensor you passed. Ops are ellipses named after their Function.
    With ``show_grad``, every tensor holding a ``.grad`` (leaves after backward, intermediates after
    ``retain_grad()``) shows the gradient's Euclidean norm. ``names`` maps labels to tensors,
    e.g. ``names={"w1": w1}``.

    A plain ``backward()`` frees the graph as it goes (op nodes drop their inputs), so to draw a graph
    with its gradients call ``backward(retain_graph=True)``; otherwise the freed nodes are marked.
    Paste the text into any Graphviz viewer, or call :func:`render`.
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"to_dot expects a Tensor, got {type(tensor).__name__}")
    return _dot_from_order(tensor, autograd.topological_order(tensor, leaves=True), show_grad, names)


# ---- the graph as a text tree ------------------------------------------------------------------

_FREED_NOTE = ("(inputs freed by backward: a plain backward() releases the graph as it goes; "
               "call backward(retain_graph=True) to keep it for viewing)")


def _text_label(tensor: Tensor, name: str | None) -> str:
    node = tensor._node
    if node is None:
        kind = "leaf" if tensor.requires_grad else "constant"
        label = f"{kind} {tensor.shape} {tensor.dtype} requires_grad={tensor.requires_grad}"
    else:
        label = f"{type(node).__name__} {tensor.shape} {tensor.dtype}"
    if tensor.data.size == 1:
        label += f" value {tensor.data.item():.4g}"
    if node is not None and node.saved is None:
        label += " -- inputs freed by backward"
    return f"{name}: {label}" if name else label


def to_text(tensor: Tensor, names: dict | None = None) -> str:
    """The graph recorded behind ``tensor`` as an indented text tree; needs no Graphviz.

    One line per tensor: the op that made it (its Function's name), its shape and dtype, and for a
    one-element tensor its value. Below each op output, indented, come its inputs in argument order.
    Tensors the user made are ``leaf`` (``requires_grad=True``: gradients accumulate into it) or
    ``constant`` (``requires_grad=False``). ``names`` maps labels to tensors, e.g. ``names={"w": w}``.

    A tensor used more than once (a shared subgraph, or ``x * x``) gets a number ``[k]``: its subtree
    is written the first time and later uses say ``[k] (shown above)``, so the text grows with the
    number of tensors, not with the number of paths through the graph. The walk uses an explicit stack
    (a chain of 100 000 ops needs no recursion), and past 24 levels only the innermost indentation is
    kept, behind a ``(depth n)`` marker. After a plain ``backward()`` the nodes it used no longer
    hold their inputs; such a node is marked and the tree says how to keep the graph.

    >>> import numpy as np, tinygrad_edu as tg
    >>> w = tg.Tensor(np.ones((3, 2)), requires_grad=True)
    >>> h = (tg.Tensor(np.ones((4, 3))) @ w).tanh()
    >>> print(to_text((h + h.exp()).sum(), names={"w": w, "h": h}))
    Sum () float64 value 29.6
    `-- Add (4, 2) float64
        |-- [1] h: Tanh (4, 2) float64
        |   `-- MatMul (4, 2) float64
        |       |-- constant (4, 3) float64 requires_grad=False
        |       `-- w: leaf (3, 2) float64 requires_grad=True
        `-- Exp (4, 2) float64
            `-- [1] h (shown above)
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"to_text expects a Tensor, got {type(tensor).__name__}")
    name_of = {id(t): n for n, t in (names or {}).items()}
    uses = {}
    for t in autograd.topological_order(tensor, leaves=True):
        if t._node is not None:
            for parent in t._node.inputs:
                uses[id(parent)] = uses.get(id(parent), 0) + 1
    number, lines, freed = {}, [], False
    # (tensor, indentation of its line, connector, depth); children are pushed last-first so they pop in order
    stack = [(tensor, "", "", 0)]
    while stack:
        t, indent, connector, depth = stack.pop()
        name = name_of.get(id(t))
        marker = f"(depth {depth}) " if depth > _TEXT_KEEP_LEVELS else ""
        key = id(t)
        if key in number:
            lines.append(f"{marker}{indent}{connector}[{number[key]}] {name + ' ' if name else ''}(shown above)")
            continue
        tag = ""
        if uses.get(key, 0) > 1:
            number[key] = len(number) + 1
            tag = f"[{number[key]}] "
        lines.append(f"{marker}{indent}{connector}{tag}{_text_label(t, name)}")
        node = t._node
        if node is None:
            continue
        freed = freed or node.saved is None
        child_indent = indent + ("" if not connector else ("    " if connector == "`-- " else "|   "))
        if depth + 1 > _TEXT_KEEP_LEVELS and child_indent:
            child_indent = child_indent[4:]  # every level is 4 characters wide
        inputs = node.inputs
        for position in range(len(inputs) - 1, -1, -1):
            last = position == len(inputs) - 1
            stack.append((inputs[position], child_indent, "`-- " if last else "|-- ", depth + 1))
    if freed:
        lines.append(_FREED_NOTE)
    return "\n".join(lines)


def _text_svg(text: str) -> str:
    """``text`` as an SVG picture of monospaced lines: what a notebook shows when Graphviz is missing."""
    from xml.sax.saxutils import escape

    lines = text.splitlines()
    width = 16 + 7 * max(len(line) for line in lines)
    height = 12 + 16 * len(lines)
    rows = "".join(f'<text x="8" y="{20 + 16 * i}" xml:space="preserve">{escape(line)}</text>'
                   for i, line in enumerate(lines))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'font-family="monospace" font-size="12">{rows}</svg>')


# ---- rendering with Graphviz ----------------------------------------------------------------


def _dot_program() -> str:
    dot = shutil.which("dot")
    if dot is None:
        raise GraphvizNotFoundError(
            "rendering needs the Graphviz 'dot' program, which is not on PATH; install Graphviz "
            "(Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz; conda: conda install graphviz) "
            "or print tinygrad_edu.viz.to_text(tensor) for the graph as a text tree, or paste "
            "tinygrad_edu.viz.to_dot(tensor) into a Graphviz viewer"
        )
    return dot


def _run_dot(text: str, fmt: str, timeout: float | None = None) -> bytes:
    import subprocess  # loaded when Graphviz is first run, so importing tinygrad_edu starts no process machinery

    result = subprocess.run([_dot_program(), f"-T{fmt}"], input=text.encode(), capture_output=True,
                            timeout=timeout, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"Graphviz 'dot -T{fmt}' failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout


def render(tensor: Tensor, path, show_grad: bool = True, names: dict | None = None) -> Path:
    """Draw the graph behind ``tensor`` into ``path`` (``.svg``, ``.png`` or ``.pdf``) with Graphviz.

    The picture is written to a temporary file beside ``path`` and renamed into place, so a failure
    never leaves half a file. Raises :class:`GraphvizNotFoundError`, saying how to install it, when
    the ``dot`` program is missing.
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in _FORMATS:
        raise ValueError(f"render: cannot tell the picture format from {str(path)!r}; "
                         f"end the file name with one of {', '.join('.' + f for f in _FORMATS)}")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"render: the folder {str(path.parent)!r} for {str(path)!r} does not exist")
    picture = _run_dot(to_dot(tensor, show_grad, names), fmt)
    with atomic_write(path) as stream:
        stream.write(picture)
    return path


def _repr_svg(tensor: Tensor):
    """SVG of ``tensor``'s graph for Jupyter's rich display, or None to fall back to the text repr.

    Drawn by Graphviz when ``dot`` is installed and works; otherwise the :func:`to_text` tree as a
    picture of text, so a notebook without Graphviz still shows the graph. None for leaves (their
    values say more than a one-box graph) and for very large graphs; a display hook never raises.
    """
    if tensor._node is None:
        return None
    try:
        order = autograd.topological_order(tensor, leaves=True)
        if len(order) > _REPR_MAX_TENSORS:
            return None
        if shutil.which("dot") is not None:
            try:
                return _run_dot(_dot_from_order(tensor, order, True, None), "svg", timeout=10).decode()
            except Exception:  # noqa: BLE001, S110 -- a failing dot is shown like a missing one: as text
                pass
        return _text_svg(to_text(tensor))
    except Exception:  # noqa: BLE001 -- any failure of an optional display is reported as "no picture"
        return None


# ---- tracing the backward sweep -------------------------------------------------------------


@dataclass
class BackwardStep:
    """One node of the backward sweep, in the order the engine ran it.

    ``grad_norms[i]`` is the Euclidean norm of the gradient the node passed to its i-th input
    (None where that input needs no gradient); ``output_grad_norm`` that of the gradient it received.
    ``node`` is the graph node itself (its saved arrays are freed unless ``retain_graph``).
    """

    step: int
    op: str
    input_shapes: tuple
    output_shape: tuple
    grad_norms: tuple
    output_grad_norm: float
    node: object = field(repr=False, compare=False, default=None)


def _norm(array) -> float:
    return float(np.linalg.norm(np.asarray(array, dtype=np.float64)))


def _format_steps(steps: list) -> str:
    header = ("step", "op", "output", "inputs", "|grad| passed to each input")
    rows = [(str(s.step), s.op, str(s.output_shape), ", ".join(str(shape) for shape in s.input_shapes),
             ", ".join("-" if n is None else f"{n:.4g}" for n in s.grad_norms)) for s in steps]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]

    def line(r):
        return (f"{r[0]:>{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]:<{widths[3]}}  {r[4]}").rstrip()

    return "\n".join(line(r) for r in [header, *rows])


def trace_backward(loss: Tensor, grad=None, retain_graph: bool = False, verbose: bool = True, file=None) -> list:
    """Run ``loss.backward(grad, retain_graph)`` and return one :class:`BackwardStep` per node visited.

    The steps come in the order the sweep visits the nodes: reverse topological order, each node
    after every node that consumed its output, so its incoming gradient is complete when it runs.
    With ``verbose`` (the default) the steps are also printed as a table to ``file`` (stdout).
    The sweep itself is the engine's: ``autograd.backward`` calls back here once per node.
    """
    steps = []

    def visit(node, grad_output, input_grads):
        passed = tuple(None if g is None or not t.requires_grad else _norm(g)
                       for t, g in zip(node.inputs, input_grads))
        steps.append(BackwardStep(len(steps) + 1, type(node).__name__, tuple(t.shape for t in node.inputs),
                                  grad_output.shape, passed, _norm(grad_output), node))

    autograd.backward(loss, grad, retain_graph, visit=visit)
    if verbose:
        print(_format_steps(steps), file=file or sys.stdout)
    return steps
