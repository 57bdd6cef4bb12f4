/* schema.c — the JSON Schema of the spec format, generated from the same
 * tables that drive validation and `ubpipe help` (so they cannot drift).
 * `ubpipe schema` prints it; schemas/pipeline.schema.json is its output. */
#include "core/schema.h"
#include "base/parse.h"
#include "core/spec.h"
#include "base/buf.h"
#include "lake/lake.h"
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static json_t *duration_schema(void)
{
    return json_pack("{s:[{s:s, s:i}, {s:s, s:s}], s:s}", "oneOf", "type", "integer", "minimum", 0, "type", "string",
                     "pattern", "^([0-9]+(\\.[0-9]+)?(ms|s|m|h|d))+$|^[0-9]+$", "description",
                     "seconds, or a duration such as 90s, 5m, 1h30m");
}

static json_t *type_schema(const ub_param *p)
{
    switch (p->type) {
    case UB_T_INT: {
        long long lo = 0, hi = INT_MAX;
        ub_parse_range(p->choices, &lo, &hi);
        return json_pack("{s:s, s:I, s:I}", "type", "integer", "minimum", (json_int_t)lo, "maximum", (json_int_t)hi);
    }
    case UB_T_BOOL:     return json_pack("{s:s}", "type", "boolean");
    case UB_T_DURATION: {
        json_t *d = duration_schema();
        json_array_append_new(json_object_get(d, "oneOf"), json_pack("{s:s, s:s}", "type", "string", "pattern", "\\{\\{"));
        return d;
    }
    case UB_T_LIST:     return json_pack("{s:s, s:{s:[s,s,s]}}", "type", "array", "items", "type", "string", "number", "boolean");
    case UB_T_MAP:      return json_pack("{s:s, s:{s:[s,s,s]}}", "type", "object", "additionalProperties", "type", "string", "number", "boolean");
    case UB_T_LAKEREF: {
        /* "^(raw|stage|scripts|\{\{).*:|^\{\{" from the lake's one list of areas */
        ub_buf pat = UB_BUF_INIT;
        ub_buf_adds(&pat, "^(");
        for (size_t i = 0; ub_lake_areas[i]; i++)
            ub_buf_addf(&pat, "%s|", ub_lake_areas[i]);
        ub_buf_adds(&pat, "\\{\\{).*:|^\\{\\{");
        json_t *j = pat.err ? NULL : json_pack("{s:s, s:s}", "type", "string", "pattern", ub_buf_str(&pat));
        ub_buf_free(&pat);
        return j;
    }
    case UB_T_ENUM: {
        json_t *e = json_array();
        const char *s = p->choices;
        while (s && *s) {
            size_t l = strcspn(s, "|");
            char buf[128];
            snprintf(buf, sizeof buf, "%.*s", (int)l, s);
            json_array_append_new(e, json_string(buf));
            s += l + (s[l] == '|');
        }
        return json_pack("{s:[{s:o}, {s:s, s:s}]}", "anyOf", "enum", e, "type", "string", "pattern", "\\{\\{");
    }
    default:
        return json_pack("{s:s}", "type", "string");
    }
}

static void add_common(json_t *props)
{
    json_object_set_new(props, "retries", json_pack("{s:s, s:i, s:s}", "type", "integer", "minimum", 0,
                                                    "description", "extra tries after a failure"));
    json_t *d = duration_schema();
    json_object_set_new(d, "description", json_string("delay before a retry"));
    json_object_set_new(props, "retry_delay", d);
    json_object_set_new(props, "retry_backoff", json_pack("{s:s, s:s}", "type", "boolean", "description",
                                                          "double the delay at each retry"));
    d = duration_schema();
    json_object_set_new(d, "description", json_string("cap of the retry delay"));
    json_object_set_new(props, "max_retry_delay", d);
    d = duration_schema();
    json_object_set_new(d, "description", json_string("a try running longer is stopped and fails"));
    json_object_set_new(props, "timeout", d);
}

/* The Lua hooks of a task (core/hooks.h, ubpipe-lua(7)). */
static void add_hooks(json_t *props)
{
    static const char *const ev[][2] = {
        { "on_success", "Lua hook after a successful try: MODULE.FUNCTION, FILE.lua or Lua code; an error fails the task" },
        { "on_failure", "Lua hook after the last failed try: MODULE.FUNCTION, FILE.lua or Lua code" },
        { "on_retry", "Lua hook before a retry: MODULE.FUNCTION, FILE.lua or Lua code" },
    };
    for (size_t i = 0; i < sizeof ev / sizeof *ev; i++)
        json_object_set_new(props, ev[i][0], json_pack("{s:s, s:s}", "type", "string", "description", ev[i][1]));
}

char *ub_schema_json(void)
{
    json_t *ops = json_array(), *names = json_array();
    for (const ub_opdesc *const *o = ub_op_all(); *o; o++) {
        const ub_opdesc *op = *o;
        json_t *props = json_object(), *req = json_array();
        json_object_set_new(props, "op", json_pack("{s:s}", "const", op->name));
        json_object_set_new(props, "after", json_pack("{s:[{s:s}, {s:s, s:{s:s}}], s:s}", "oneOf", "type", "string",
                                                      "type", "array", "items", "type", "string", "description",
                                                      "ids of the tasks this one runs after"));
        json_object_set_new(props, "description", json_pack("{s:s}", "type", "string"));
        add_common(props);
        add_hooks(props);
        json_array_append_new(req, json_string("op"));
        for (const ub_param *p = op->params; p->name; p++) {
            json_t *ps = type_schema(p);
            json_object_set_new(ps, "description", json_string(p->desc));
            if (p->def)
                json_object_set_new(ps, "default", json_string(p->def));
            json_object_set_new(props, p->name, ps);
            if (p->required)
                json_array_append_new(req, json_string(p->name));
        }
        json_array_append_new(ops, json_pack("{s:s, s:s, s:o, s:o, s:b, s:{s:{s:{s:s}}}}", "description", op->summary,
                                             "type", "object", "properties", props, "required", req,
                                             "additionalProperties", 0, "if", "properties", "op", "const", op->name));
        json_array_append_new(names, json_string(op->name));
    }
    /* each task: op must name an operator; then the operator's own shape */
    json_t *allof = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(ops, i, v) {
        json_t *iff = json_incref(json_object_get(v, "if"));
        json_object_del(v, "if");
        json_array_append_new(allof, json_pack("{s:o, s:O}", "if", iff, "then", v));
    }
    json_t *task = json_pack("{s:s, s:[s], s:{s:{s:o}}, s:o}", "type", "object", "required", "op", "properties", "op",
                             "enum", names, "allOf", allof);
    json_decref(ops);

    json_t *conn_fields = json_object();
    for (const char *const *f = ub_conn_fields; *f; f++) {
        if (strcmp(*f, "scripts") == 0)
            json_object_set_new(conn_fields, *f, json_pack("{s:s, s:{s:s}}", "type", "object",
                                                           "additionalProperties", "type", "string"));
        else if (strcmp(*f, "dialect") == 0)
            json_object_set_new(conn_fields, *f, json_pack("{s:[s,s]}", "enum", "postgres", "redshift"));
        else
            json_object_set_new(conn_fields, *f, json_pack("{s:s}", "type", "string"));
    }
    json_t *conn = json_pack("{s:[{s:s}, {s:s, s:o, s:b}]}", "oneOf", "type", "string", "type", "object",
                             "properties", conn_fields, "additionalProperties", 0);
    json_t *defaults_props = json_object();
    add_common(defaults_props);
    json_t *root = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:[s,s], s:b, s:{"
        "s:{s:s, s:s, s:s}, s:{s:s}, s:{s:s, s:s}, s:{s:s, s:o, s:b}, s:{s:s}, "
        "s:{s:s, s:{s:s, s:o}}, s:{s:s, s:s, s:o}}}",
        "$schema", "https://json-schema.org/draft/2020-12/schema",
        "$id", "https://ubpipe.dev/schemas/pipeline.schema.json",
        "title", "ubpipe pipeline spec",
        "description", "A declarative batch pipeline run by ubpipe; see ubpipe-pipeline(5). Generated by 'ubpipe schema'.",
        "type", "object",
        "required", "pipeline", "tasks",
        "additionalProperties", 0,
        "properties",
        "pipeline", "type", "string", "pattern", "^[A-Za-z0-9_-]+$", "description", "name of the pipeline",
        "description", "type", "string",
        "start_date", "type", "string", "pattern", "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
        "defaults", "type", "object", "properties", defaults_props, "additionalProperties", 0,
        "params", "type", "object",
        "profiles", "type", "object", "additionalProperties", "type", "object", "additionalProperties", conn,
        "tasks", "type", "object", "minProperties", "1", "additionalProperties", task);
    /* minProperties must be a number */
    json_object_set_new(json_object_get(json_object_get(root, "properties"), "tasks"), "minProperties",
                        json_integer(1));
    json_object_set_new(json_object_get(root, "properties"), "depends_on_past",
                        json_pack("{s:s, s:s}", "type", "boolean", "description",
                                  "a ds starts only when the previous ds's run is complete"));
    json_object_set_new(json_object_get(root, "properties"), "schedule",
                        json_pack("{s:s, s:s, s:s}", "type", "string", "pattern",
                                  "^(@daily|@midnight|[0-9]{1,2}[ \\t]+[0-9]{1,2}[ \\t]+\\*[ \\t]+\\*[ \\t]+\\*)$",
                                  "description", "when ubpipe serve runs each ds: @daily or 'M H * * *' (UTC), "
                                                 "once the ds's day has ended; needs start_date"));
    json_object_set_new(json_object_get(root, "properties"), "end_date",
                        json_pack("{s:s, s:s, s:s}", "type", "string", "pattern", "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
                                  "description", "the last ds the schedule runs"));
    json_object_set_new(json_object_get(root, "properties"), "catchup",
                        json_pack("{s:s, s:s}", "type", "boolean", "description",
                                  "true (default): ubpipe serve runs every missed ds since start_date; false: "
                                  "only the latest"));
    json_object_set_new(json_object_get(root, "properties"), "max_active_runs",
                        json_pack("{s:s, s:i, s:s}", "type", "integer", "minimum", 0, "description",
                                  "ds of the pipeline in progress at once (absent or 0: 16 under ubpipe serve, no limit for ubpipe run)"));
    json_object_set_new(json_object_get(root, "properties"), "lua_path",
                        json_pack("{s:s, s:{s:s}, s:s}", "type", "array", "items", "type", "string", "description",
                                  "directories (relative to the spec) where hooks find modules with require"));
    json_object_set_new(json_object_get(root, "properties"), "lua_grant",
                        json_pack("{s:s, s:{s:s, s:s}, s:s}", "type", "array", "items", "type", "string", "pattern",
                                  "^(os|io\\.read:.+|io\\.write:.+)$", "description",
                                  "capabilities the hooks get beyond the sandbox: os, io.read:DIR, io.write:DIR"));
    json_object_set_new(json_object_get(root, "properties"), "reports",
                        json_pack("{s:s, s:s, s:{s:s, s:[s], s:b, s:{s:{s:s, s:s}, s:{s:s, s:s}, s:{s:s, s:s}}}}",
                                  "type", "object", "description",
                                  "reports (Markdown with SQL, ubpipe-report(5)) by id, for `ubpipe report` and the report operator",
                                  "additionalProperties", "type", "object", "required", "file",
                                  "additionalProperties", 0, "properties",
                                  "file", "type", "string", "description", "the report file, relative to the spec",
                                  "conn", "type", "string", "description", "connection its queries run on (default warehouse)",
                                  "title", "type", "string", "description", "title of the page"));
    json_object_set_new(json_object_get(json_object_get(root, "properties"), "tasks"), "propertyNames",
                        json_pack("{s:s}", "pattern", "^[A-Za-z0-9_.-]+$"));
    char *out = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    return out;
}
