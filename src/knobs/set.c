/* Knob sets: building one from `--knob` specs and YAML values, with one clear
 * line for each mistake (unknown knob or parameter, wrong type, out of range,
 * missing value, duplicate, conflict); reading parameters back; checking that
 * every knob can apply and left its evidence; the run JSON's "knobs" array. */
#include <stdlib.h>
#include <string.h>

#include "knob_internal.h"

void gt_knob_set_init(gt_knob_set *set)
{
    memset(set, 0, sizeof *set);
}

void gt_knob_set_free(gt_knob_set *set)
{
    for (size_t i = 0; i < set->count; i++) {
        cJSON_Delete(set->items[i].params);
        cJSON_Delete(set->items[i].evidence);
        free(set->items[i].state);
    }
    gt_knob_set_init(set);
}

gt_knob_use *gt_knob_set_find(const gt_knob_set *set, const char *name)
{
    for (size_t i = 0; i < set->count; i++)
        if (!strcmp(set->items[i].def->name, name))
            return (gt_knob_use *)&set->items[i];
    return NULL;
}

static gt_status unknown_knob(const char *name, gt_error *err)
{
    const gt_knob_def *near = gt_knob_suggest(name);
    if (near)
        return gt_error_set(err, GT_ERR_NOT_FOUND, "knob \"%s\" is unknown (did you mean \"%s\"?)", name, near->name);
    return gt_error_set(err, GT_ERR_NOT_FOUND, "knob \"%s\" is unknown (see 'greentune knobs' for the catalog)", name);
}

static const char *param_names(const gt_knob_def *def, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (const gt_knob_param *p = def->params; p && p->name; p++) {
        int n = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", p->name);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
    return buf;
}

static gt_status unknown_param(const gt_knob_def *def, const char *name, gt_error *err)
{
    const char *names[32];
    size_t n = 0;
    char list[256];
    for (const gt_knob_param *p = def->params; p && p->name && n < 32; p++)
        names[n++] = p->name;
    if (n == 0)
        return gt_error_set(err, GT_ERR_INVALID, "knob \"%s\" takes no parameters (got \"%s\")", def->name, name);
    const char *near = knob_suggest_among(name, names, n);
    if (near)
        return gt_error_set(err, GT_ERR_INVALID, "knob \"%s\": \"%s\" is not a parameter (did you mean \"%s\"?)",
                            def->name, name, near);
    return gt_error_set(err, GT_ERR_INVALID, "knob \"%s\": \"%s\" is not a parameter (parameters: %s)", def->name,
                        name, param_names(def, list, sizeof list));
}

/* A bare value goes to the first shorthand parameter that accepts it (cpu_freq:
 * a number is max_khz, a name is a governor). */
static gt_status shorthand_value(const gt_knob_def *def, const cJSON *value, cJSON *params, gt_error *err)
{
    gt_error first = {0};
    int candidates = 0;
    char text[256];
    for (const gt_knob_param *p = def->params; p && p->name; p++) {
        if (!p->shorthand)
            continue;
        gt_error attempt = {0};
        cJSON *v = knob_param_value(def, p, value, &attempt);
        if (v) {
            cJSON_AddItemToObject(params, p->name, v);
            return GT_OK;
        }
        if (!candidates++)
            first = attempt;
    }
    if (candidates) {
        if (err)
            *err = first;
        return first.status;
    }
    if (!def->params || !def->params[0].name)
        return gt_error_set(err, GT_ERR_INVALID, "knob \"%s\" takes no value (got %s); write just %s", def->name,
                            knob_value_text(value, text, sizeof text), def->name);
    return gt_error_set(err, GT_ERR_INVALID, "knob \"%s\" takes named parameters, e.g. %s={%s: ...} (parameters: %s)",
                        def->name, def->name, def->params[0].name, param_names(def, text, sizeof text));
}

static gt_status given_params(const gt_knob_def *def, const cJSON *value, cJSON *params, gt_error *err)
{
    if (cJSON_IsTrue(value) || cJSON_IsNull(value))
        return GT_OK;
    if (!cJSON_IsObject(value))
        return shorthand_value(def, value, params, err);
    const cJSON *member;
    cJSON_ArrayForEach(member, value) {
        const gt_knob_param *p = gt_knob_find_param(def, member->string);
        if (!p)
            return unknown_param(def, member->string, err);
        cJSON *v = knob_param_value(def, p, member, err);
        if (!v)
            return err ? err->status : GT_ERR_INVALID;
        cJSON_AddItemToObject(params, p->name, v);
    }
    return GT_OK;
}

static gt_status fill_defaults(const gt_knob_def *def, cJSON *params, gt_error *err)
{
    for (const gt_knob_param *p = def->params; p && p->name; p++) {
        if (cJSON_GetObjectItemCaseSensitive(params, p->name))
            continue;
        if (!p->fallback) {
            if (p->shorthand)
                return gt_error_set(err, GT_ERR_INVALID, "knob \"%s\": %s is required (write %s=VALUE or %s={%s: VALUE})",
                                    def->name, p->name, def->name, def->name, p->name);
            return gt_error_set(err, GT_ERR_INVALID, "knob \"%s\": %s is required (write %s={%s: VALUE})", def->name,
                                p->name, def->name, p->name);
        }
        if (!p->fallback[0])
            continue;
        cJSON *text = knob_plain_scalar(p->fallback, strlen(p->fallback));
        cJSON *v = knob_param_value(def, p, text, err);
        cJSON_Delete(text);
        if (!v)
            return gt_error_prefix(err, "(the default) ");
        cJSON_AddItemToObject(params, p->name, v);
    }
    return GT_OK;
}

/* "knob" or "knob (param=value)" for conflict messages. */
static const char *conflict_side(const char *name, const char *condition, char *buf, size_t size)
{
    if (condition)
        snprintf(buf, size, "\"%s\" (%s)", name, condition);
    else
        snprintf(buf, size, "\"%s\"", name);
    return buf;
}

/* Conflicts are declared on one of the two knobs; check both directions. */
static gt_status check_conflicts(const gt_knob_set *set, const gt_knob_def *def, const cJSON *params, gt_error *err)
{
    char a[160], b[160];
    for (size_t i = 0; i < set->count; i++) {
        const gt_knob_use *other = &set->items[i];
        for (int dir = 0; dir < 2; dir++) {
            const gt_knob_def *owner = dir ? other->def : def, *target = dir ? def : other->def;
            const cJSON *owner_params = dir ? other->params : params, *target_params = dir ? params : other->params;
            for (const gt_knob_conflict *c = owner->conflicts; c && c->knob; c++) {
                if (strcmp(c->knob, target->name) || !knob_condition_holds(owner_params, c->when) ||
                    !knob_condition_holds(target_params, c->other_when))
                    continue;
                return gt_error_set(err, GT_ERR_INVALID, "knobs %s and %s conflict: %s",
                                    conflict_side(owner->name, c->when, a, sizeof a),
                                    conflict_side(target->name, c->other_when, b, sizeof b), c->why);
            }
        }
    }
    return GT_OK;
}

/* User text (a quoted "\n", a name given with a newline) must not break the
 * one-line message. */
static gt_status one_line(gt_status status, gt_error *err)
{
    if (status != GT_OK && err && strpbrk(err->message, "\n\t\r")) {
        char copy[GT_ERROR_MESSAGE_MAX];
        memcpy(copy, err->message, sizeof copy);
        knob_escape(copy, err->message, sizeof err->message);
    }
    return status;
}

static gt_status add_json(gt_knob_set *set, const char *name, const cJSON *value, gt_error *err);

gt_status gt_knob_set_add_json(gt_knob_set *set, const char *name, const cJSON *value, gt_error *err)
{
    return one_line(add_json(set, name, value, err), err);
}

static gt_status add_json(gt_knob_set *set, const char *name, const cJSON *value, gt_error *err)
{
    const gt_knob_def *def = gt_knob_find(name);
    if (!def)
        return unknown_knob(name, err);
    if (cJSON_IsFalse(value))
        return GT_OK; /* explicitly off, e.g. a variant overriding `fused: true` */
    cJSON *params = cJSON_CreateObject();
    if (!params)
        return gt_error_set(err, GT_ERR_NOMEM, "knob \"%s\": out of memory", name);
    gt_status status = given_params(def, value, params, err);
    if (status == GT_OK)
        status = fill_defaults(def, params, err);
    if (status == GT_OK && def->hooks && def->hooks->validate)
        status = def->hooks->validate(def, params, err);
    const gt_knob_use *same = gt_knob_set_find(set, name);
    if (status == GT_OK && same) {
        char *before = cJSON_PrintUnformatted(same->params), *now = cJSON_PrintUnformatted(params);
        status = gt_error_set(err, GT_ERR_INVALID, "knob \"%s\" is given twice (%s and %s); keep one", name,
                              before ? before : "?", now ? now : "?");
        cJSON_free(before);
        cJSON_free(now);
    }
    if (status == GT_OK)
        status = check_conflicts(set, def, params, err);
    if (status == GT_OK && set->count >= GT_KNOB_SET_MAX)
        status = gt_error_set(err, GT_ERR_NOMEM, "knob \"%s\": a set holds at most %d knobs", name, GT_KNOB_SET_MAX);
    if (status != GT_OK) {
        cJSON_Delete(params);
        return status;
    }
    gt_knob_use *use = &set->items[set->count++];
    use->def = def;
    use->params = params;
    use->evidence = cJSON_CreateObject();
    return GT_OK;
}

static gt_status add_spec(gt_knob_set *set, const char *spec, gt_error *err);

gt_status gt_knob_set_add_spec(gt_knob_set *set, const char *spec, gt_error *err)
{
    return one_line(add_spec(set, spec, err), err);
}

static gt_status add_spec(gt_knob_set *set, const char *spec, gt_error *err)
{
    char name[64];
    const char *eq = strchr(spec, '=');
    size_t len = eq ? (size_t)(eq - spec) : strlen(spec);
    while (len && spec[len - 1] == ' ')
        len--;
    while (len && *spec == ' ')
        spec++, len--;
    if (len == 0)
        return gt_error_set(err, GT_ERR_INVALID, "--knob \"%s\": no knob name (write NAME or NAME=VALUE)", spec);
    if (len >= sizeof name)
        return gt_error_set(err, GT_ERR_NOT_FOUND, "knob \"%.40s...\" is unknown (see 'greentune knobs' for the catalog)", spec);
    memcpy(name, spec, len);
    name[len] = '\0';
    if (!gt_knob_find(name))
        return unknown_knob(name, err);
    if (!eq) {
        cJSON on = {.type = cJSON_True}; /* a bare name: on, with its defaults */
        return gt_knob_set_add_json(set, name, &on, err);
    }
    char what[96];
    snprintf(what, sizeof what, "knob \"%s\"", name);
    cJSON *value = knob_flow_parse(eq + 1, what, err);
    if (!value)
        return err ? err->status : GT_ERR_PARSE;
    if (cJSON_IsNull(value)) {
        cJSON_Delete(value);
        return gt_error_set(err, GT_ERR_INVALID, "knob \"%s\": nothing after '=' (write %s or %s=VALUE)", name, name, name);
    }
    gt_status status = gt_knob_set_add_json(set, name, value, err);
    cJSON_Delete(value);
    return status;
}

gt_status gt_knob_set_add_object(gt_knob_set *set, const cJSON *knobs, gt_error *err)
{
    if (!knobs || cJSON_IsNull(knobs))
        return GT_OK;
    if (!cJSON_IsObject(knobs))
        return gt_error_set(err, GT_ERR_INVALID, "knobs: expected a mapping like {seq_trim: 128, bf16: true}");
    const cJSON *member;
    cJSON_ArrayForEach(member, knobs) {
        gt_status status = gt_knob_set_add_json(set, member->string, member, err);
        if (status != GT_OK)
            return status;
    }
    return GT_OK;
}

/* --- reading parameters ----------------------------------------------------- */

static const cJSON *param_item(const gt_knob_use *use, const char *param)
{
    return use && use->params ? cJSON_GetObjectItemCaseSensitive(use->params, param) : NULL;
}

long gt_knob_int(const gt_knob_use *use, const char *param)
{
    const cJSON *v = param_item(use, param);
    return cJSON_IsNumber(v) ? (long)v->valuedouble : 0;
}

double gt_knob_double(const gt_knob_use *use, const char *param)
{
    const cJSON *v = param_item(use, param);
    return cJSON_IsNumber(v) ? v->valuedouble : 0.0;
}

int gt_knob_bool(const gt_knob_use *use, const char *param)
{
    return cJSON_IsTrue(param_item(use, param));
}

const char *gt_knob_string(const gt_knob_use *use, const char *param)
{
    const cJSON *v = param_item(use, param);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int gt_knob_has(const gt_knob_use *use, const char *param)
{
    return param_item(use, param) != NULL;
}

/* --- checks and output ------------------------------------------------------ */

gt_status gt_knob_set_check_available(const gt_knob_set *set, gt_error *err)
{
    for (size_t i = 0; i < set->count; i++)
        if (set->items[i].def->effect == GT_KNOB_PENDING)
            return gt_error_set(err, GT_ERR_UNSUPPORTED,
                                "knob \"%s\": its effect is not built yet (the pipeline will provide it); remove the knob",
                                set->items[i].def->name);
    return GT_OK;
}

gt_status gt_knob_set_check_evidence(const gt_knob_set *set, gt_error *err)
{
    for (size_t i = 0; i < set->count; i++) {
        const gt_knob_use *use = &set->items[i];
        for (const char *const *key = use->def->evidence; key && *key; key++)
            if (!cJSON_GetObjectItemCaseSensitive(use->evidence, *key))
                return gt_error_set(err, GT_ERR_INTERNAL,
                                    "knob \"%s\": evidence \"%s\" was not recorded, so it may not have taken effect",
                                    use->def->name, *key);
    }
    return GT_OK;
}

cJSON *gt_knob_set_to_json(const gt_knob_set *set)
{
    cJSON *array = cJSON_CreateArray();
    for (size_t i = 0; i < set->count; i++) {
        const gt_knob_use *use = &set->items[i];
        cJSON *k = cJSON_CreateObject();
        cJSON_AddStringToObject(k, "name", use->def->name);
        cJSON_AddItemToObject(k, "params", cJSON_Duplicate(use->params, 1));
        cJSON_AddItemToObject(k, "evidence", use->evidence ? cJSON_Duplicate(use->evidence, 1) : cJSON_CreateObject());
        cJSON_AddItemToArray(array, k);
    }
    return array;
}
