/* test_fingerprint.c — the pieces of fingerprints that need no engine: the
 * streaming content-hash reader (io/hashread.h), the file hash, the fingerprint
 * hash (stat hints excluded, key order irrelevant) and the journal's
 * reading of fingerprints, decisions and older records. */
#include "core/fingerprint.h"
#include "io/hashread.h"
#include "t.h"
#include <unistd.h>

/* XXH3-128 as `xxhsum -H2` (xxhash 0.8.1) prints it for "abc", "" and PATTERN_N bytes of
 * PATTERN(i) — computed by that program, not by the code under test */
#define ABC_XXH128   "06b05ab6733a618578af5f94892f3950"
#define EMPTY_XXH128 "99aa06d3014798d86001c324468d497f"
#define PATTERN(i)   ((unsigned char)(((i) * 31) % 251))
#define PATTERN_N    200000
#define PATTERN_XXH128 "19d6845029fe206941664023e97fa2e1"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    T_CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

int main(void)
{
    char dir[] = "/tmp/ubpipe-test-fp.XXXXXX", path[400], hex[65];
    ub_err err;
    T_CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/abc", dir);
    write_file(path, "abc");

    /* the file hash and the streaming reader agree with the vectors */
    T_CHECK(ub_fp_file_hash(path, hex) == 0);
    T_STREQ(hex, ABC_XXH128);
    ub_reader *r = ub_chash_reader(ub_file_reader_open(path, &err), &err);
    T_CHECK(r != NULL);
    char buf[2];
    T_CHECK(ub_chash_reader_hex(r, hex) == -1);              /* not at the end: no hash of a prefix */
    while (r && ub_read(r, buf, 1, &err) > 0)
        ;
    T_CHECK(r && ub_chash_reader_hex(r, hex) == 0);
    T_STREQ(hex, ABC_XXH128);
    ub_reader_close(r);
    snprintf(path, sizeof path, "%s/empty", dir);
    write_file(path, "");
    r = ub_chash_reader(ub_file_reader_open(path, &err), &err);
    T_CHECK(r && ub_read(r, buf, sizeof buf, &err) == 0 && ub_chash_reader_hex(r, hex) == 0);
    T_STREQ(hex, EMPTY_XXH128);
    ub_reader_close(r);
    /* many reads of odd sizes (the streaming state across chunks) */
    snprintf(path, sizeof path, "%s/pattern", dir);
    FILE *pf = fopen(path, "wb");
    for (long i = 0; pf && i < PATTERN_N; i++)
        fputc(PATTERN(i), pf);
    if (pf)
        fclose(pf);
    r = ub_chash_reader(ub_file_reader_open(path, &err), &err);
    char odd[777];
    while (r && ub_read(r, odd, sizeof odd, &err) > 0)
        ;
    T_CHECK(r && ub_chash_reader_hex(r, hex) == 0);
    T_STREQ(hex, PATTERN_XXH128);
    ub_reader_close(r);
    T_CHECK(ub_fp_file_hash(path, hex) == 0);
    T_STREQ(hex, PATTERN_XXH128);
    T_CHECK(ub_chash_reader(ub_file_reader_open("/nonexistent/x", &err), &err) == NULL);
    T_CHECK(ub_fp_file_hash("/nonexistent/x", hex) == -1);

    /* the fingerprint hash: key order and stat hints change nothing; content does */
    char h1[65], h2[65], h3[65], h4[65];
    json_t *a = json_loads("{\"op\":\"sql 1\",\"params\":{\"x\":\"1\",\"y\":\"2\"},"
                           "\"files\":{\"sql\":{\"path\":\"/a.sql\",\"hash\":\"aa\",\"stat\":\"1:2:3\"}}}", 0, NULL);
    json_t *b = json_loads("{\"files\":{\"sql\":{\"stat\":\"9:9:9\",\"hash\":\"aa\",\"path\":\"/a.sql\"}},"
                           "\"params\":{\"y\":\"2\",\"x\":\"1\"},\"op\":\"sql 1\"}", 0, NULL);
    json_t *c = json_loads("{\"op\":\"sql 1\",\"params\":{\"x\":\"1\",\"y\":\"2\"},"
                           "\"files\":{\"sql\":{\"path\":\"/a.sql\",\"hash\":\"ab\"}}}", 0, NULL);
    T_CHECK(a && b && c);
    ub_fp_hash(a, h1);
    ub_fp_hash(b, h2);
    ub_fp_hash(c, h3);
    T_STREQ(h1, h2);
    T_CHECK(strcmp(h1, h3) != 0);
    T_INTEQ(strlen(h1), UB_CHASH_HEX);
    /* a streamed content hash replaces the stat identity */
    json_t *in = json_pack("{s:s}", "sql", "ab");
    ub_fp_merge_inputs(a, in);
    ub_fp_hash(a, h4);
    T_STREQ(h4, h3);
    json_decref(in);

    /* the journal: fingerprints of successes, decisions, and an older record */
    char jdir[300];
    snprintf(jdir, sizeof jdir, "%s/runs/p/2021-05-01", dir);
    ub_journal j;
    T_CHECK(ub_journal_open(&j, dir, "p", "2021-05-01", 1, &err) == 0);
    T_CHECK(ub_journal_record_fp(&j, "t", "success", 1, NULL, NULL, 0, "{\"op\":\"noop 1\"}", &err) == 0);
    T_CHECK(ub_journal_record(&j, "old", "success", 1, NULL, NULL, 0, &err) == 0);
    T_CHECK(ub_journal_decision(&j, "t", "skip", "up to date", &err) == 0);
    ub_journal_close(&j);
    snprintf(path, sizeof path, "%s/journal.jsonl", jdir);
    FILE *f = fopen(path, "a");
    if (f) {
        fputs("{\"ts\":1,\"task\":\"legacy\",\"state\":\"success\",\"try\":1,\"outputs\":{}}\n{\"ts\":2,\"task\":", f);
        fclose(f);                                            /* and a torn last line */
    }
    T_CHECK(ub_journal_open(&j, dir, "p", "2021-05-01", 0, &err) == 0);
    const ub_jtask *t = ub_journal_task(&j, "t");
    T_CHECK(t && t->fp && strstr(t->fp, "noop 1") != NULL);
    T_STREQ(t ? t->state : NULL, "success");                  /* a decision is not a state */
    T_STREQ(t ? t->decision : NULL, "skip");
    T_STREQ(t ? t->reason : NULL, "up to date");
    t = ub_journal_task(&j, "old");
    T_CHECK(t && !t->fp);
    t = ub_journal_task(&j, "legacy");
    T_CHECK(t && !t->fp && t->state && strcmp(t->state, "success") == 0);
    ub_journal_close(&j);

    json_decref(a);
    json_decref(b);
    json_decref(c);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    T_CHECK(system(cmd) == 0);
    return t_done("test_fingerprint");
}
