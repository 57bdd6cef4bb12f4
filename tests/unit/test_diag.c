/* test_diag.c — base/diag: finding a block inside a registered source (ub_diag_seek), the place a
 * template error points at. */
#include "base/diag.h"
#include "t.h"

#include <string.h>

static ub_loc L(int line, int col) { ub_loc l = { "x.yaml", line, col }; return l; }

int main(void)
{
    ub_diag d;
    ub_diag_init(&d);
    const char *text = "a: 1\n"
                       "src: \"d/{{ ds }}/\xC3\xA9/{{ x }}\"\n"   /* é is one column */
                       "dst: >\n"
                       "  {{ a }}\n"
                       "  b {{ c }}\n";
    ub_loc at = ub_diag_seek(&d, L(2, 6), "{{", 0);      /* no source registered: unchanged */
    T_INTEQ(at.line, 2);
    T_INTEQ(at.col, 6);
    ub_diag_source(&d, "x.yaml", text, strlen(text));
    at = ub_diag_seek(&d, L(2, 6), "{{", 0);
    T_INTEQ(at.line, 2);
    T_INTEQ(at.col, 9);
    at = ub_diag_seek(&d, L(2, 6), "{{", 1);
    T_INTEQ(at.line, 2);
    T_INTEQ(at.col, 20);
    at = ub_diag_seek(&d, L(3, 6), "{{", 1);             /* across lines */
    T_INTEQ(at.line, 5);
    T_INTEQ(at.col, 5);
    at = ub_diag_seek(&d, L(3, 6), "{{", 2);             /* none that far: unchanged */
    T_INTEQ(at.line, 3);
    T_INTEQ(at.col, 6);
    at = ub_diag_seek(&d, L(9, 1), "{{", 0);             /* past the end */
    T_INTEQ(at.line, 9);
    ub_diag_free(&d);
    return t_done("diag");
}
