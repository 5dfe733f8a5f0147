"""The condition language's parser: tokens to a tree of :mod:`~proactive.conditions.evaluator`
nodes, by recursive descent over the grammar in the package docstring."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from proactive.conditions.errors import MAX_DEPTH, MAX_LENGTH, ConditionError, _shorten
from proactive.conditions.evaluator import (
    FUNCTIONS,
    Condition,
    _Arith,
    _BoolOp,
    _Call,
    _Compare,
    _compile_regex,
    _is_number,
    _List,
    _Literal,
    _Name,
    _Negate,
    _Node,
    _Not,
    _show,
    _TypeProblem,
)
from proactive.conditions.lexer import _CONST, _END, _NAME, _NUMBER, _OP, _STRING, _describe_token, _Token, _tokenize

_COMPARISON_OPS = {"==", "!=", "<", "<=", ">", ">="}


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.index = 0
        self.depth = 0
        self.names: list[_Name] = []

    # -- helpers

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def peek(self, offset: int = 1) -> _Token:
        return self.tokens[min(self.index + offset, len(self.tokens) - 1)]

    def at_op(self, *ops: str) -> bool:
        return self.current.kind == _OP and self.current.value in ops

    def advance(self) -> _Token:
        token = self.current
        if token.kind != _END:
            self.index += 1
        return token

    def unexpected(self, token: _Token | None = None, expected: str = "") -> ConditionError:
        token = token or self.current
        suffix = f" (expected {expected})" if expected else ""
        if token.kind == _END:
            return ConditionError(f"unexpected end of condition at column {token.column}{suffix}", column=token.column)
        return ConditionError(
            f"unexpected {_describe_token(token)} at column {token.column}{suffix}", column=token.column
        )

    def expect(self, op: str) -> _Token:
        if not self.at_op(op):
            raise self.unexpected(expected=f"'{op}'")
        return self.advance()

    def enter(self, token: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ConditionError(
                f"condition nested too deeply at column {token.column} (the limit is {MAX_DEPTH} levels)",
                column=token.column,
            )

    def leave(self) -> None:
        self.depth -= 1

    # -- grammar

    def parse(self) -> _Node:
        if self.current.kind == _END:
            raise ConditionError("condition is empty", column=1)
        node = self.parse_or()
        if self.current.kind != _END:
            raise self.unexpected(expected="'and', 'or' or the end")
        return node

    def parse_or(self) -> _Node:
        first = self.parse_and()
        operands = [first]
        while self.at_op("or"):
            self.advance()
            operands.append(self.parse_and())
        return first if len(operands) == 1 else _BoolOp("or", operands, first.column)

    def parse_and(self) -> _Node:
        first = self.parse_not()
        operands = [first]
        while self.at_op("and"):
            self.advance()
            operands.append(self.parse_not())
        return first if len(operands) == 1 else _BoolOp("and", operands, first.column)

    def parse_not(self) -> _Node:
        if self.at_op("not"):
            token = self.advance()
            self.enter(token)
            operand = self.parse_not()
            self.leave()
            return _Not(operand, token.column)
        return self.parse_comparison()

    def comparison_op(self) -> tuple[str, int] | None:
        token = self.current
        if token.kind != _OP:
            return None
        if token.value in _COMPARISON_OPS or token.value == "in":
            self.advance()
            return token.value, token.column
        if token.value == "not" and self.peek().kind == _OP and self.peek().value == "in":
            self.advance()
            self.advance()
            return "not in", token.column
        return None

    def parse_comparison(self) -> _Node:
        first = self.parse_sum()
        rest: list[tuple[str, _Node, int]] = []
        while (found := self.comparison_op()) is not None:
            op, column = found
            rest.append((op, self.parse_sum(), column))
        return first if not rest else _Compare(first, rest, first.column)

    def parse_sum(self) -> _Node:
        first = self.parse_product()
        rest: list[tuple[str, _Node, int]] = []
        while self.at_op("+", "-"):
            token = self.advance()
            rest.append((token.value, self.parse_product(), token.column))
        return first if not rest else _Arith(first, rest, first.column)

    def parse_product(self) -> _Node:
        first = self.parse_unary()
        rest: list[tuple[str, _Node, int]] = []
        while self.at_op("*", "/"):
            token = self.advance()
            rest.append((token.value, self.parse_unary(), token.column))
        return first if not rest else _Arith(first, rest, first.column)

    def parse_unary(self) -> _Node:
        if self.at_op("-", "+"):
            token = self.advance()
            self.enter(token)
            operand = self.parse_unary()
            self.leave()
            if isinstance(operand, _Literal):
                if not _is_number(operand.value):
                    raise ConditionError(
                        f"'{token.value}' needs a number, got {_show(operand.value)} (at column {token.column})",
                        column=token.column,
                    )
                # Fold "-5" into a literal so negative numbers are plain constants.
                return _Literal(-operand.value if token.value == "-" else operand.value, token.column)
            return _Negate(token.value, operand, token.column)
        return self.parse_primary()

    def parse_primary(self) -> _Node:
        token = self.current
        if token.kind in (_NUMBER, _STRING, _CONST):
            self.advance()
            return _Literal(token.value, token.column)
        if token.kind == _NAME:
            self.advance()
            if self.at_op("("):
                return self.parse_call(token)
            node = _Name(token.value, token.column)
            self.names.append(node)
            return node
        if self.at_op("("):
            self.advance()
            self.enter(token)
            if self.at_op(")"):
                raise self.unexpected(expected="an expression inside the parentheses")
            node = self.parse_or()
            self.expect(")")
            self.leave()
            return node
        if self.at_op("["):
            self.advance()
            self.enter(token)
            items: list[_Node] = []
            if not self.at_op("]"):
                items.append(self.parse_or())
                while self.at_op(","):
                    self.advance()
                    items.append(self.parse_or())
            self.expect("]")
            self.leave()
            return _List(items, token.column)
        raise self.unexpected(expected="a value, a name or '('")

    def parse_call(self, name_token: _Token) -> _Node:
        dotted = name_token.text
        function = FUNCTIONS.get(dotted)
        if function is None:
            known = ", ".join(sorted(FUNCTIONS))
            raise ConditionError(
                f"unknown function '{_shorten(dotted)}' at column {name_token.column} (available: {known})",
                column=name_token.column,
            )
        self.enter(name_token)
        self.expect("(")
        args: list[_Node] = []
        if not self.at_op(")"):
            args.append(self.parse_or())
            while self.at_op(","):
                self.advance()
                args.append(self.parse_or())
        self.expect(")")
        self.leave()
        if len(args) != function.arity:
            plural = "s" if function.arity != 1 else ""
            raise ConditionError(
                f"{dotted}() takes {function.arity} argument{plural}, got {len(args)} "
                f"(at column {name_token.column}); {function.doc}",
                column=name_token.column,
            )
        if dotted == "matches" and isinstance(args[1], _Literal):
            # A literal pattern is checked now, at save time, rather than at the first check.
            try:
                _compile_regex(args[1].value)
            except _TypeProblem as exc:
                raise ConditionError(f"matches(): {exc} (at column {args[1].column})", column=args[1].column)
        return _Call(dotted, args, name_token.column)


def compile_condition(source: str, *, names: Iterable[str] | None = None) -> Condition:
    """Parse ``source`` into a :class:`Condition`, or raise :class:`ConditionError`.

    When ``names`` is given (the value names a probe provides), a name whose first part is
    not one of them is refused, with the known names listed.
    """
    if not isinstance(source, str):
        raise ConditionError(f"a condition must be text, got {type(source).__name__}")
    if len(source) > MAX_LENGTH:
        raise ConditionError(f"condition is too long ({len(source)} characters; the limit is {MAX_LENGTH})")
    parser = _Parser(_tokenize(source))
    tree = parser.parse()
    if names is not None:
        known = list(dict.fromkeys(str(name) for name in names))
        for node in parser.names:
            root = node.parts[0]
            if root not in known:
                close = difflib.get_close_matches(root, known, n=1)
                hint = f"did you mean '{close[0]}'? " if close else ""
                raise ConditionError(
                    f"unknown name '{root}' at column {node.column} ({hint}known: {', '.join(known) or 'none'})",
                    column=node.column,
                )
    return Condition(source, tree, parser.names)
