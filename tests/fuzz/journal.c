/* journal.c — fuzz target: the run journal reader over torn, garbled and odd
 * JSON lines, then the append path: after opening for append (which repairs
 * a torn tail) a new record must read back as the task's last state. */
#include "fz.h"
#include "core/journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char jpath[400];
    const char *state = fz_dir();
    if (!jpath[0]) {
        char d[400];
        snprintf(d, sizeof d, "%s/runs", state);
        mkdir(d, 0755);
        snprintf(d, sizeof d, "%s/runs/p", state);
        mkdir(d, 0755);
        snprintf(d, sizeof d, "%s/runs/p/2021-05-01", state);
        mkdir(d, 0755);
        snprintf(jpath, sizeof jpath, "%s/journal.jsonl", d);
    }
    fz_write(jpath, data, size);
    ub_journal j;
    ub_err err = { 0 };
    if (ub_journal_open(&j, state, "p", "2021-05-01", 0, &err) == 0) {
        for (size_t i = 0; i < j.n; i++)
            if (!j.tasks[i].task || !j.tasks[i].state)
                abort();
    }
    ub_journal_close(&j);
    if (ub_journal_open(&j, state, "p", "2021-05-01", 1, &err) != 0)
        abort();                 /* any content opens for append */
    ub_kv out = { "rows", "42" };
    if (ub_journal_record(&j, "fuzz_task", "success", 3, NULL, &out, 1, &err) != 0)
        abort();
    ub_journal_close(&j);
    if (ub_journal_open(&j, state, "p", "2021-05-01", 0, &err) != 0)
        abort();
    const ub_jtask *t = ub_journal_task(&j, "fuzz_task");
    if (!t || strcmp(t->state, "success") != 0 || t->tries < 3)
        abort();                 /* the appended record was lost or glued to a torn line */
    ub_journal_close(&j);
    return 0;
}
