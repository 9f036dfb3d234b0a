#!/usr/bin/env python3
"""Lists Swift functions, initializers and closures-bodied computed properties longer than a limit.

Usage: scripts/long-functions.py [--limit 60] [--run-limit 40] [paths...]
Counts the lines from a declaration's line to its closing brace. Commands' `run` methods
(Sources/plaid) have their own limit. Exits 1 when any is over, so CI can hold the line.
Sources/PlaidKernels (C) is not read.
"""
import re, sys, pathlib

DECL = re.compile(r'^\s*(?:@\w+(?:\([^)]*\))?\s+)*(?:(?:public|private|fileprivate|internal|open|static|class|final|override|mutating|nonmutating|convenience|required|nonisolated|@inline\(__always\)|@inlinable|@discardableResult)\s+)*(func\s+[^\s(<]+|init[?!]?\s*[(<]|deinit\b|subscript\s*[(<])')

def strip(line):
    # Drop string literals and comments, well enough to count braces.
    line = re.sub(r'"(?:\\.|[^"\\])*"', '""', line)
    return line.split('//', 1)[0]

def functions(path):
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        m = DECL.match(lines[i])
        if not m:
            i += 1
            continue
        depth, opened, j = 0, False, i
        while j < len(lines):
            text = strip(lines[j])
            depth += text.count('{') - text.count('}')
            if '{' in text: opened = True
            if opened and depth <= 0: break
            if not opened and j > i and (DECL.match(lines[j]) or text.strip() == ''):
                break  # a protocol requirement: no body
            j += 1
        if opened:
            yield m.group(1).split('(')[0].strip(), i + 1, j - i + 1
        i += 1

def main():
    args = sys.argv[1:]
    limit, run_limit = 60, 40
    if '--limit' in args:
        k = args.index('--limit'); limit = int(args[k + 1]); del args[k:k + 2]
    if '--run-limit' in args:
        k = args.index('--run-limit'); run_limit = int(args[k + 1]); del args[k:k + 2]
    roots = [pathlib.Path(a) for a in (args or ['Sources'])]
    over = []
    for root in roots:
        for path in sorted(root.rglob('*.swift')) if root.is_dir() else [root]:
            if 'PlaidKernels' in path.parts: continue
            for name, line, length in functions(path):
                bound = run_limit if ('plaid' in path.parts and name == 'func run') else limit
                if length > bound:
                    over.append((length, f'{path}:{line}', name, bound))
    for length, where, name, bound in sorted(over, reverse=True):
        print(f'{length:4d} lines (limit {bound})  {where}  {name}')
    return 1 if over else 0

if __name__ == '__main__':
    sys.exit(main())
