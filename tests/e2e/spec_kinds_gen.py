# spec_kinds_gen.py DIR — writes the specs of tests/e2e/test_spec_kinds.sh into DIR: the same small
# pipeline with one key at a time given each node shape (a list, a mapping, nested ones, null, empty).
import os, sys
os.chdir(sys.argv[1])
shapes = {'flowmap_in_seq': '[a: b]', 'seq_in_seq': '[[a]]', 'map_with_seq_in_seq': '[{a: [b]}]', 'map': '{a: b}', 'seq': '[a]', 'emptymap': '{}', 'emptyseq': '[]', 'null': '~'}
base = '''pipeline: p
params:
  greeting: hi
profiles:
  local:
    lake: "file:/tmp/x"
    warehouse:
      dsn: "host=/tmp dbname=x"
      dialect: postgres
    emr:
      cluster: local
      scripts:
        a.py: classify
defaults:
  retries: 1
tasks:
  a:
    op: noop
  b:
    op: sql
    sql: x.sql
    after: [a]
  c:
    op: lua.transform
    after: [a]
    from: raw:x
    to: stage:y
    script: s.lua
    header: [h1, h2]
'''

cases = []
# replace value of a given line pattern
targets = {
 'after': ('    after: [a]\n', '    after: {S}\n'),
 'op': ('  a:\n    op: noop\n', '  a:\n    op: {S}\n'),
 'sql': ('    sql: x.sql\n', '    sql: {S}\n'),
 'conn': ('    sql: x.sql\n', '    sql: x.sql\n    conn: {S}\n'),
 'setup': ('    sql: x.sql\n', '    sql: x.sql\n    setup: {S}\n'),
 'retries': ('  retries: 1\n', '  retries: {S}\n'),
 'task_retries': ('  a:\n    op: noop\n', '  a:\n    op: noop\n    retries: {S}\n'),
 'retry_delay': ('  retries: 1\n', '  retry_delay: {S}\n'),
 'timeout': ('  a:\n    op: noop\n', '  a:\n    op: noop\n    timeout: {S}\n'),
 'retry_backoff': ('  a:\n    op: noop\n', '  a:\n    op: noop\n    retry_backoff: {S}\n'),
 'description': ('  a:\n    op: noop\n', '  a:\n    op: noop\n    description: {S}\n'),
 'on_success': ('  a:\n    op: noop\n', '  a:\n    op: noop\n    on_success: {S}\n'),
 'on_failure': ('  a:\n    op: noop\n', '  a:\n    op: noop\n    on_failure: {S}\n'),
 'pipeline': ('pipeline: p\n', 'pipeline: {S}\n'),
 'top_description': ('pipeline: p\n', 'pipeline: p\ndescription: {S}\n'),
 'start_date': ('pipeline: p\n', 'pipeline: p\nstart_date: {S}\n'),
 'depends_on_past': ('pipeline: p\n', 'pipeline: p\ndepends_on_past: {S}\n'),
 'lua_path': ('pipeline: p\n', 'pipeline: p\nlua_path: {S}\n'),
 'lua_grant': ('pipeline: p\n', 'pipeline: p\nlua_grant: {S}\n'),
 'param_value': ('  greeting: hi\n', '  greeting: {S}\n'),
 'params': ('params:\n  greeting: hi\n', 'params: {S}\n'),
 'defaults': ('defaults:\n  retries: 1\n', 'defaults: {S}\n'),
 'profiles': ('profiles:\n  local:\n', 'profiles:\n  other: {S}\n  local:\n'),
 'profile_conn': ('    lake: "file:/tmp/x"\n', '    lake: {S}\n'),
 'conn_dsn': ('      dsn: "host=/tmp dbname=x"\n', '      dsn: {S}\n'),
 'conn_dialect': ('      dialect: postgres\n', '      dialect: {S}\n'),
 'conn_cluster': ('      cluster: local\n', '      cluster: {S}\n'),
 'conn_scripts': ('      scripts:\n        a.py: classify\n', '      scripts: {S}\n'),
 'conn_script_val': ('        a.py: classify\n', '        a.py: {S}\n'),
 'tasks': ('tasks:\n  a:\n', 'tasks:\n  z: {S}\n  a:\n'),
 'list_param': ('    header: [h1, h2]\n', '    header: {S}\n'),
 'list_param_item': ('    header: [h1, h2]\n', '    header: [h1, {S}]\n'),
 'lakeref': ('    from: raw:x\n', '    from: {S}\n'),
 'enum': ('    header: [h1, h2]\n', '    header: [h1, h2]\n    mode: {S}\n'),
 'int_param': ('    header: [h1, h2]\n', '    header: [h1, h2]\n    batch_size: {S}\n'),
 'bool_param': ('    header: [h1, h2]\n', '    header: [h1, h2]\n    reuse_row: {S}\n'),
 'map_param': ('    header: [h1, h2]\n', '    header: [h1, h2]\n    params: {S}\n'),
 'map_param_val': ('    header: [h1, h2]\n', '    header: [h1, h2]\n    params: {k: {S}}\n'),
 'grant_item': ('    header: [h1, h2]\n', '    header: [h1, h2]\n    grant: [{S}]\n'),
 'task_body': ('  a:\n    op: noop\n', '  a: {S}\n'),
 'root_tasks': ('tasks:\n  a:\n    op: noop\n', 'tasks: {S}\n  a2:\n    op: noop\n'),
}
for tn, (old, new) in targets.items():
    for sn, sv in shapes.items():
        s = base.replace(old, new.replace('{S}', sv), 1)
        open(f'c_{tn}__{sn}.yaml', 'w').write(s)
open('x.sql','w').write('SELECT 1;\n')
