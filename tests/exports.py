#!/usr/bin/env python3
"""The names a library exports are the public API and nothing else.

    exports.py SRC BUILD

For libuhmm.so and libuhmm.a the set of defined global symbols must
equal the functions and variables declared (not defined inline) in the
public headers, include/uhmm/*.h and the generated version.h; for
libuhmm-dmirror.so, those of dmirror.h. An internal name in the set
(host_init, settings...) is one an application can clash with; a public
name missing from it is one an application cannot link. Prints TAP.

The headers are parsed simply, as they are written (STYLE: one
declaration a statement, no macros that make declarations): comments,
preprocessor lines and the bodies of inline functions, structs, unions
and enums are dropped, and what is left at file scope is split into
statements; a statement with a parameter list that is not a typedef nor
static is a function, one starting with extern is a variable.
"""
import glob
import os
import re
import subprocess
import sys

IDENT = re.compile(r'[A-Za-z_]\w*')


def strip(text):
    """The header without comments, preprocessor lines and strings."""
    text = re.sub(r'/\*.*?\*/', ' ', text, flags=re.S)
    text = re.sub(r'//[^\n]*', ' ', text)
    text = re.sub(r'\\\n', ' ', text)
    text = re.sub(r'^\s*#[^\n]*', ' ', text, flags=re.M)
    text = re.sub(r'"(\\.|[^"\\])*"', '""', text)
    return text


def statements(text):
    """File-scope statements, with every {...} body removed."""
    out, cur, depth, function = [], [], 0, False
    for ch in text:
        if depth:
            depth += {'{': 1, '}': -1}.get(ch, 0)
            # A function body ends its statement; a struct's body ends
            # at the ';' after it.
            if depth == 0 and function:
                out.append(''.join(cur))
                cur = []
            continue
        if ch == '{':
            depth = 1
            function = bool(re.search(r'\)\s*$', ''.join(cur)))
            cur.append(' {} ')
        elif ch == ';':
            out.append(''.join(cur))
            cur = []
        else:
            cur.append(ch)
    return [' '.join(s.split()) for s in out if s.strip()]


def drop_attributes(stmt):
    """stmt without __attribute__((...)) and the header's own macros."""
    while True:
        m = re.search(r'__attribute__\s*\(\(', stmt)
        if not m:
            break
        depth, i = 0, m.end() - 2
        while i < len(stmt):
            depth += {'(': 1, ')': -1}.get(stmt[i], 0)
            i += 1
            if depth == 0:
                break
        stmt = stmt[:m.start()] + stmt[i:]
    stmt = re.sub(r'\b(UHMM_API|UHMM_BEGIN_DECLS|UHMM_END_DECLS|'
                  r'__extension__)\b', ' ', stmt)
    stmt = re.sub(r'extern\s*""\s*', ' ', stmt)
    return ' '.join(stmt.split())


def declared(path):
    """(functions, variables) declared in the header at path."""
    funcs, variables = set(), set()
    with open(path) as f:
        text = strip(f.read())
    for stmt in statements(text):
        stmt = drop_attributes(stmt)
        if not stmt or re.match(r'(typedef|static|_Static_assert)\b',
                                stmt):
            continue
        if '{}' in stmt.split('(')[0]:
            continue	# a struct, union or enum definition
        if '(' in stmt:
            # A function pointer variable, T (*name)(...), or a function:
            # the name before the first parameter list.
            m = re.match(r'[^(]*\(\s*\*\s*([A-Za-z_]\w*)\s*\)\s*\(', stmt)
            if m:
                variables.add(m.group(1))
            else:
                funcs.add(IDENT.findall(stmt.split('(')[0])[-1])
        elif stmt.startswith('extern '):
            names = IDENT.findall(re.sub(r'\[.*?\]', '', stmt))
            variables.add(names[-1])
        elif re.match(r'(struct|union|enum)\s+\w+$', stmt):
            continue	# a forward declaration
        else:
            raise SystemExit('%s: cannot read "%s"' % (path, stmt))
    return funcs, variables


def exported(lib):
    """Defined global symbols of a shared library or an archive."""
    shared = '.so' in os.path.basename(lib)
    args = ['nm', '-D' if shared else '-g', '--defined-only', lib]
    out = subprocess.run(args, check=True, capture_output=True,
                         text=True).stdout
    names = set()
    for line in out.splitlines():
        fields = line.split()
        if len(fields) != 3:
            continue	# an archive's member names, blank lines
        kind, name = fields[1], fields[2]
        if kind == 'A':
            continue	# a version node (UHMM_0.1)
        names.add(name.split('@')[0])
    return names


def check(n, desc, want, have):
    missing, extra = sorted(want - have), sorted(have - want)
    print('%s %d - %s' % ('not ok' if missing or extra else 'ok', n, desc))
    for name in missing:
        print('#   declared, not exported: %s' % name)
    for name in extra:
        print('#   exported, not declared: %s' % name)


def main():
    src, build = sys.argv[1], sys.argv[2]
    uhmm = set()
    headers = sorted(glob.glob(os.path.join(src, 'include/uhmm/*.h')))
    # Generated into the build tree (include/uhmm/version.h.in).
    version_h = os.path.join(build, 'include/uhmm/version.h')
    if os.path.exists(version_h):
        headers.append(version_h)
    for h in headers:
        funcs, variables = declared(h)
        uhmm |= funcs | variables
    dmirror = set()
    for h in glob.glob(os.path.join(src, 'drivers/dmirror/include/uhmm/'
                                    'dmirror.h')):
        funcs, variables = declared(h)
        dmirror |= funcs | variables

    print('1..3')
    check(1, 'libuhmm.so exports include/uhmm/*.h alone', uhmm,
          exported(os.path.join(build, 'libuhmm.so')))
    check(2, 'libuhmm.a defines include/uhmm/*.h alone as globals', uhmm,
          exported(os.path.join(build, 'libuhmm.a')))
    check(3, 'libuhmm-dmirror.so exports dmirror.h alone', dmirror,
          exported(os.path.join(build, 'drivers/libuhmm-dmirror.so')))


if __name__ == '__main__':
    main()
