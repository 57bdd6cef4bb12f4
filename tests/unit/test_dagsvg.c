/* test_dagsvg.c — the task graph as SVG (web/dagsvg.h): Graphviz draws it, we tag the nodes. */
#include "t.h"
#include "web/dagsvg.h"

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

int main(void)
{
    ub_buf b = UB_BUF_INIT;
    ub_err e;
    const char *const up_b[] = { "a" }, *const up_c[] = { "a", "b" };
    ub_dag_node n[] = {
        { .id = "a", .op = "pg.extract", .state = "success", .href = "/p/runs/d/tasks/a" },
        { .id = "b", .op = "lake.put", .state = "failed", .after = up_b, .nafter = 1 },
        { .id = "c\\n<x>", .op = NULL, .state = NULL, .after = up_c, .nafter = 2 },
    };
    T_INTEQ(ub_dagsvg(n, 3, "p<q>", &b, &e), 0);
    const char *s = ub_buf_str(&b);
    T_CHECK(strncmp(s, "<svg", 4) == 0);                 /* no XML prolog: it sits inside HTML */
    T_INTEQ(count(s, "class=\"node "), 3);
    T_INTEQ(count(s, "class=\"edge\""), 3);
    T_CHECK(strstr(s, "class=\"node st-success\" data-task=\"a\" data-state=\"success\"") != NULL);
    T_CHECK(strstr(s, "class=\"node st-failed\" data-task=\"b\" data-state=\"failed\"") != NULL);
    T_CHECK(strstr(s, "class=\"node st-none\" data-task=\"c\\n&lt;x&gt;\">") != NULL);   /* no data-state */
    T_CHECK(strstr(s, "xlink:href=\"/p/runs/d/tasks/a\"") != NULL);
    T_CHECK(strstr(s, "<x>") == NULL);                   /* labels escaped by Graphviz */
    T_CHECK(strstr(s, "c\\n&lt;x&gt;") != NULL);          /* a backslash shows as itself */
    T_CHECK(strstr(s, "</svg>") != NULL);

    /* an unknown upstream, a repeated id: errors, not drawings */
    const char *const ghost[] = { "zz" };
    ub_dag_node bad1[] = { { .id = "a" }, { .id = "b", .after = ghost, .nafter = 1 } };
    ub_buf_reset(&b);
    T_INTEQ(ub_dagsvg(bad1, 2, "p", &b, &e), -1);
    T_STREQ(e.msg, "task 'b': upstream 'zz' is not in the graph");
    ub_dag_node bad2[] = { { .id = "a" }, { .id = "a" } };
    T_INTEQ(ub_dagsvg(bad2, 2, "p", &b, &e), -1);
    T_STREQ(e.msg, "task graph: empty or repeated task id 'a'");

    /* an empty graph is still an SVG; and the context is reused call after call */
    ub_buf_reset(&b);
    T_INTEQ(ub_dagsvg(NULL, 0, NULL, &b, &e), 0);
    T_CHECK(strstr(ub_buf_str(&b), "<svg") != NULL);
    for (int i = 0; i < 50; i++) {
        ub_buf_reset(&b);
        T_INTEQ(ub_dagsvg(n, 3, "p", &b, &e), 0);
    }
    ub_buf_free(&b);
    return t_done("test_dagsvg");
}
