"""Where a Hugging Face router's logits come from, read from its own source code.

A transformers 5.x router computes its logits with one linear projection of the hidden
state (``F.linear(x, self.weight)``, ``F.linear(x.float(), self.weight.float(), self.bias)``,
``self.gate(x)`` on an ``nn.Linear`` child, ``super().forward(x)`` in a router that *is*
an ``nn.Linear``, ``torch.mm(x, self.weight.t())``) and then applies its family's routing
rule (softmax or sigmoid, correction bias, group-limited top-k, scaling, ...). This module
finds those projection sites in the methods of a router class (:func:`projection_sites`)
and rebuilds the methods with each chosen site replaced by ``self.<method>(x)``
(:func:`rewrite_methods`), so that every other line of the family's code runs unchanged.
"""

from __future__ import annotations

import ast
import functools
import inspect
import linecache
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

# method calls that change a weight's dtype, layout or orientation but not its values
_VALUE_PRESERVING = {"type", "float", "to", "half", "bfloat16", "double", "contiguous", "type_as"}
_TRANSPOSES = {"t", "transpose"}
_LINEAR_FUNCTIONS = (nn.functional.linear,)
_MATMUL_FUNCTIONS = (torch.mm, torch.matmul)


@dataclass(frozen=True)
class ProjectionSite:
    """One place in a router method where a linear projection of the hidden state is made.

    ``kind`` is "functional" (``F.linear``, ``torch.mm``, ``@``; ``weight`` and ``bias``
    are attribute paths on the router such as "weight" or "classifier.weight"), "module"
    (a call of the child ``module``, an attribute path) or "self" (``super().forward(x)``
    in a router that is an ``nn.Linear``)."""

    method: str
    position: tuple[int, int, int, int]  # line and column span in the method's source
    kind: str
    weight: str | None = None
    bias: str | None = None
    module: str | None = None
    text: str = ""

    def describe(self) -> str:
        return f"{self.method}: {self.text}"


def _attribute_path(node: ast.AST) -> str | None:
    """``self.a.b`` -> "a.b"; anything else -> None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name) and node.id == "self" and parts:
        return ".".join(reversed(parts))
    return None


def _weight_path(node: ast.AST, transposed: bool) -> str | None:
    """The router attribute a weight expression reads, through casts (and a transpose
    when ``transposed``): ``self.weight.type(torch.float32)`` -> "weight"."""
    seen_transpose = False
    while True:
        if isinstance(node, ast.Attribute) and node.attr == "T" and transposed:
            node, seen_transpose = node.value, True
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and (
                node.func.attr in _VALUE_PRESERVING
                or (transposed and node.func.attr in _TRANSPOSES)
            )
        ):
            seen_transpose |= node.func.attr in _TRANSPOSES
            node = node.func.value
        else:
            break
    if transposed and not seen_transpose:
        return None
    return _attribute_path(node)


def _resolve_global(node: ast.AST, namespace: dict) -> object | None:
    """The object a ``name.attr.attr`` expression (not rooted at ``self``) denotes."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id == "self":
        return None
    if node.id in namespace:
        value = namespace[node.id]
    else:
        return None
    for part in reversed(parts):
        value = getattr(value, part, None)
        if value is None:
            return None
    return value


def _argument(call: ast.Call, position: int, name: str) -> ast.AST | None:
    if len(call.args) > position:
        return call.args[position]
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value
    return None


def _is_super_forward(func: ast.AST) -> bool:
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "forward"
        and isinstance(func.value, ast.Call)
        and isinstance(func.value.func, ast.Name)
        and func.value.func.id == "super"
        and not func.value.args
    )


def _site_of(node: ast.AST, namespace: dict) -> tuple[str, dict, ast.AST] | None:
    """(kind, fields, input expression) when ``node`` is a projection of its first input."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
        weight = _weight_path(node.right, transposed=True)
        if weight is not None:
            return "functional", {"weight": weight}, node.left
        return None
    if not isinstance(node, ast.Call) or not node.args:
        return None
    if _is_super_forward(node.func) and len(node.args) == 1 and not node.keywords:
        return "self", {}, node.args[0]
    module = _attribute_path(node.func)
    if module is not None:
        if len(node.args) == 1 and not node.keywords:
            return "module", {"module": module}, node.args[0]
        return None
    target = _resolve_global(node.func, namespace)
    if target is None:
        return None
    if any(target is function for function in _LINEAR_FUNCTIONS):
        weight_node = _argument(node, 1, "weight")
        weight = _weight_path(weight_node, transposed=False) if weight_node else None
        if weight is None:
            return None
        bias_node = _argument(node, 2, "bias")
        bias = None
        if bias_node is not None and not (
            isinstance(bias_node, ast.Constant) and bias_node.value is None
        ):
            bias = _weight_path(bias_node, transposed=False)
            if bias is None:
                return None
        return "functional", {"weight": weight, "bias": bias}, _argument(node, 0, "input")
    if any(target is function for function in _MATMUL_FUNCTIONS) and len(node.args) == 2:
        weight = _weight_path(node.args[1], transposed=True)
        if weight is not None:
            return "functional", {"weight": weight}, node.args[0]
    return None


@dataclass(frozen=True)
class _Method:
    name: str
    owner: type
    tree: ast.FunctionDef
    namespace: dict


def _methods(router_class: type) -> list[_Method]:
    """The router's own methods (not torch's), each from the class that defines it."""
    found, seen = [], set()
    for owner in router_class.__mro__:
        if owner.__module__.startswith("torch") or owner is object:
            continue
        for name, value in vars(owner).items():
            if name in seen or not inspect.isfunction(value):
                continue
            seen.add(name)
            if name.startswith("__") and name.endswith("__"):
                continue
            try:
                source = textwrap.dedent(inspect.getsource(value))
            except (OSError, TypeError):
                continue
            tree = ast.parse(source).body[0]
            if isinstance(tree, ast.FunctionDef):
                namespace = vars(sys.modules[owner.__module__])
                found.append(_Method(name, owner, tree, namespace))
    return found


@functools.cache
def projection_sites(router_class: type) -> tuple[ProjectionSite, ...]:
    """Every candidate projection site in the methods of ``router_class``, source order."""
    sites = []
    for method in _methods(router_class):
        for node in ast.walk(method.tree):
            match = _site_of(node, method.namespace)
            if match is None:
                continue
            kind, fields, _ = match
            sites.append(
                ProjectionSite(method.name, _span(node), kind, text=ast.unparse(node), **fields)
            )
    return tuple(sorted(sites, key=lambda site: (site.method, site.position)))


def _span(node: ast.AST) -> tuple[int, int, int, int]:
    return (node.lineno, node.col_offset, node.end_lineno, node.end_col_offset)


class _ReplaceSites(ast.NodeTransformer):
    """Replaces the chosen projection nodes by ``self.<method>(input)``; zero-argument
    ``super()`` becomes ``super(__qmoe_owner__, self)`` (the rebuilt function is not
    defined in a class body, so it has no ``__class__`` cell)."""

    def __init__(self, namespace: dict, chosen: set[tuple], method: str) -> None:
        self.namespace, self.chosen, self.method = namespace, chosen, method
        self.replaced = 0

    def visit(self, node: ast.AST) -> ast.AST:
        match = _site_of(node, self.namespace)
        if match is not None:
            if _span(node) in self.chosen:
                _, _, hidden = match
                keywords = [
                    keyword
                    for keyword in getattr(node, "keywords", [])
                    if keyword.arg == "out_dtype"
                ]
                self.replaced += 1
                hidden = self.visit(hidden)
                call = ast.Call(
                    func=ast.Attribute(
                        value=ast.Name(id="self", ctx=ast.Load()), attr=self.method, ctx=ast.Load()
                    ),
                    args=[hidden],
                    keywords=keywords,
                )
                return ast.copy_location(call, node)
        node = self.generic_visit(node)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "super"
            and not node.args
        ):
            node.args = [
                ast.Name(id="__qmoe_owner__", ctx=ast.Load()),
                ast.Name(id="self", ctx=ast.Load()),
            ]
        return node


def rewrite_methods(
    router_class: type, chosen: tuple[ProjectionSite, ...], logits_method: str
) -> dict[str, Callable]:
    """The methods of ``router_class`` holding a ``chosen`` site, rebuilt with each such
    site replaced by ``self.<logits_method>(input)``; the rest of each method is the
    family's code, compiled against the family's module globals."""
    by_method: dict[str, set[tuple]] = {}
    for site in chosen:
        by_method.setdefault(site.method, set()).add(site.position)
    rebuilt = {}
    for method in _methods(router_class):
        if method.name not in by_method:
            continue
        tree = method.tree  # parsed afresh by _methods: this copy is ours to transform
        transformer = _ReplaceSites(method.namespace, by_method[method.name], logits_method)
        tree = transformer.visit(tree)
        if transformer.replaced != len(by_method[method.name]):
            raise RuntimeError(
                f"{router_class.__qualname__}.{method.name}: expected to replace "
                f"{len(by_method[method.name])} projection(s), replaced {transformer.replaced}"
            )
        factory = ast.FunctionDef(
            name="__qmoe_factory__",
            args=ast.arguments(
                posonlyargs=[],
                args=[ast.arg(arg="__qmoe_owner__")],
                kwonlyargs=[],
                kw_defaults=[],
                defaults=[],
            ),
            body=[tree, ast.Return(value=ast.Name(id=method.name, ctx=ast.Load()))],
            decorator_list=[],
            returns=None,
            type_params=[],
        )
        module = ast.fix_missing_locations(ast.Module(body=[factory], type_ignores=[]))
        source = ast.unparse(module) + "\n"
        filename = f"<qmoe: {method.owner.__module__}.{method.owner.__qualname__}.{method.name}>"
        # tracebacks and torch.compile's error messages can show the rebuilt source
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        scope: dict = {}
        exec(compile(source, filename, "exec"), method.namespace, scope)  # noqa: S102
        function = scope["__qmoe_factory__"](method.owner)
        function.__qualname__ = f"{method.owner.__qualname__}.{method.name}"
        function.__module__ = method.owner.__module__
        rebuilt[method.name] = function
    return rebuilt
