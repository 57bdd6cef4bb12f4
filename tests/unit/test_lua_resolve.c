/* test_lua_resolve.c — ub_lua_resolve: lua_path and grant directories made absolute against a base
 * directory, the one function behind hooks' lua_path/lua_grant and lua.transform's lua_path/grant. */
#include "base/mem.h"
#include "lua/luahost.h"
#include "t.h"
#include <limits.h>

static void check(const char *item, int grant, const char *base, const char *want)
{
    ub_err err;
    char *r = ub_lua_resolve(item, grant, base, &err);
    T_STREQ(r, want);
    ub_free(r);
}

int main(void)
{
    ub_err err;
    check("lib", 0, "/spec", "/spec/lib");
    check("../shared/lua", 0, "/spec/dir", "/spec/dir/../shared/lua");
    check("/abs/lib", 0, "/spec", "/abs/lib");
    check("io.read:data", 1, "/spec", "io.read:/spec/data");
    check("io.write:out/x", 1, "/spec", "io.write:/spec/out/x");
    check("io.read:/abs", 1, "/spec", "io.read:/abs");
    check("os", 1, "/spec", "os");
    check("lib", 0, NULL, "lib");

    /* longer than PATH_MAX: an error naming the item, never a truncated path */
    size_t n = PATH_MAX;
    char *big = ub_malloc(n + 1);
    T_CHECK(big != NULL);
    memset(big, 'a', n);
    big[n] = '\0';
    memcpy(big, "io.read:", 8);
    char *r = ub_lua_resolve(big, 1, "/spec", &err);
    T_CHECK(r == NULL);
    T_CHECK(strstr(err.msg, "grant 'io.read:aaa") != NULL);
    T_CHECK(strstr(err.msg, "is longer than") != NULL);
    ub_free(r);
    big[PATH_MAX - 10] = '\0';
    r = ub_lua_resolve(big + 8, 0, "/a/very/long/base/directory", &err);
    T_CHECK(r == NULL);
    T_CHECK(strstr(err.msg, "lua_path '") == err.msg);
    ub_free(r);
    ub_free(big);
    return t_done("test_lua_resolve");
}
