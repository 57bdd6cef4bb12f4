#!/usr/bin/env python3
"""state.py — the file half of the bad-input catalogue's "nothing half-written" check.

  state.py snap ROOT EXCLUDE... > SNAP      every directory and file under ROOT (size, sha256), but
                                            the relative paths EXCLUDE (e.g. home/pg, run)
  state.py check ROOT SNAP MAY EXCLUDE...   compare ROOT now with SNAP; MAY is 'none' or 'journal'.
                                            Prints one line per difference and exits 1 when there is
                                            any that MAY does not allow; what MAY allows is undone
                                            (journal tails truncated, new try logs removed) so the
                                            next case starts from the same state.

MAY=journal allows, under home/runs/ only: a journal.jsonl that grew by complete JSON lines (its old
bytes a prefix of the new), a new journal.jsonl made of complete JSON lines, new try logs
(runs/P/DS/logs/*.log), a new empty 'lock' file and the directories holding them; and, under
home/work/, new empty directories (the run's work directory P/DS, made before a task writes into it;
a file left there is not allowed).  Everything else,
in every case, must be byte for byte as before, and nothing may be added or removed.
"""
import hashlib
import json
import os
import sys


def sha(path, limit=None):
    h = hashlib.sha256()
    left = limit
    with open(path, 'rb') as f:
        while True:
            n = 1 << 16 if left is None else min(1 << 16, left)
            if n == 0:
                break
            b = f.read(n)
            if not b:
                break
            h.update(b)
            if left is not None:
                left -= len(b)
    return h.hexdigest()


def walk(root, excludes):
    state = {}
    for d, dirs, files in os.walk(root):
        rel = os.path.relpath(d, root)
        rel = '' if rel == '.' else rel + '/'
        dirs[:] = sorted(x for x in dirs if rel + x not in excludes)
        for x in dirs:
            state[rel + x + '/'] = None
        for x in sorted(files):
            p = os.path.join(d, x)
            if rel + x in excludes:
                continue
            if os.path.islink(p) or not os.path.isfile(p):
                state[rel + x] = ['special', 0]
            else:
                state[rel + x] = [os.path.getsize(p), sha(p)]
    return state


def complete_json_lines(data):
    """True when data is zero or more lines, each a JSON object ending in a newline."""
    if data and not data.endswith(b'\n'):
        return False
    for line in data.split(b'\n')[:-1]:
        try:
            if not isinstance(json.loads(line), dict):
                return False
        except ValueError:
            return False
    return True


def journal_path(p):
    parts = p.split('/')
    return len(parts) == 5 and parts[0] == 'home' and parts[1] == 'runs' and parts[4] == 'journal.jsonl'


def allowed_new(p):
    """Paths MAY=journal lets a case add (journal.jsonl is checked on its own)."""
    parts = p.rstrip('/').split('/')
    if p.endswith('/') and len(parts) in (3, 4) and parts[:2] == ['home', 'work']:
        return True   # the run's work directory, made before a task writes into it (files there are not)
    if len(parts) < 3 or parts[0] != 'home' or parts[1] != 'runs':
        return False
    if p.endswith('/'):
        return len(parts) <= 5 and (len(parts) < 5 or parts[4] == 'logs')
    if len(parts) == 5 and parts[4] == 'lock':
        return True
    return len(parts) == 6 and parts[4] == 'logs' and parts[5].endswith('.log')


def check(root, snap, may, excludes):
    with open(snap) as f:
        before = json.load(f)
    now = walk(root, excludes)
    bad, undo_trunc, undo_rm = [], [], []
    for p in sorted(set(before) | set(now)):
        b, n = before.get(p, 'absent'), now.get(p, 'absent')
        if b == n:
            continue
        full = os.path.join(root, p)
        if may == 'journal' and journal_path(p) and n != 'absent':
            old = 0 if b == 'absent' else b[0]
            if b != 'absent' and (n[0] < old or sha(full, old) != b[1]):
                bad.append('changed (not an append): ' + p)
                continue
            with open(full, 'rb') as f:
                f.seek(old)
                tail = f.read()
            if not complete_json_lines(tail):
                bad.append('torn or garbled journal lines appended: ' + p)
                continue
            if b == 'absent':
                undo_rm.append(full)
            else:
                undo_trunc.append((full, old))
            continue
        if may == 'journal' and b == 'absent' and allowed_new(p) and (n is None or p.endswith('.log')
                                                                     or n == [0, sha(os.devnull)]):
            undo_rm.append(full)
            continue
        if b == 'absent':
            bad.append('added: ' + p)
        elif n == 'absent':
            bad.append('removed: ' + p)
        else:
            bad.append('changed: ' + p)
    for p in bad:
        print('  half-written: ' + p)
    for full, size in undo_trunc:
        os.truncate(full, size)
    for full in sorted(undo_rm, reverse=True):   # files before the directories holding them
        try:
            if os.path.isdir(full):
                os.rmdir(full)
            else:
                os.unlink(full)
        except OSError as e:   # a directory that also holds something not allowed (reported above)
            print('  cannot undo %s: %s' % (full, e.strerror))
    return 1 if bad else 0


def main(argv):
    if len(argv) >= 3 and argv[1] == 'snap':
        json.dump(walk(argv[2], set(argv[3:])), sys.stdout, indent=0, sort_keys=True)
        return 0
    if len(argv) >= 5 and argv[1] == 'check' and argv[4] in ('none', 'journal'):
        return check(argv[2], argv[3], argv[4], set(argv[5:]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv))
