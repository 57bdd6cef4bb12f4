/* template.c — fuzz target: template text ("{{ expr }}" blocks) through the
 * renderer and the block scanner, in the sandboxed Lua state. */
#include "fz.h"
#include "base/buf.h"
#include "lua/luahost.h"

static ub_lua *L;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!L) {
        ub_err err = { 0 };
        /* small limits: a runaway expression is the sandbox's job, not a finding */
        ub_lua_limits lim = { .instructions = 200000, .memory = 16u << 20 };
        if (!(L = ub_lua_new(&lim, &err)))
            abort();
        ub_lua_set_limits(L, 2.0, 0);
        ub_lua_scope_setstr(L, "ds", "2021-05-01");
        ub_lua_scope_setstr(L, "ds_nodash", "20210501");
    }
    const char *s = (const char *)data;
    for (size_t i = 0; i < size; i++)
        if (s[i] == '{' && i + 1 < size && s[i + 1] == '{') {
            size_t n = ub_tmpl_block_len(s + i, size - i);
            if (n > size - i)
                abort();
        }
    (void)ub_tmpl_has_expr(s, size);
    ub_buf out = UB_BUF_INIT;
    ub_err err = { 0 };
    (void)ub_tmpl_render(L, s, size, "fuzz", &out, &err);
    ub_buf_free(&out);
    return 0;
}
