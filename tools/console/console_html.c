/*
 * dh-console's pages: plain HTML and CSS, no script. Every number the test reads carries
 * a data-k attribute naming what it is ("lag:<group>:<topic>:<partition>",
 * "dlq:<topic>:<class>", ...), so a browser's DOM can be checked against the stack.
 */
#include <stdlib.h>
#include <string.h>

#include "console.h"

static const char css[] =
    "body{font:14px system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}"
    "nav{background:#1d2330;padding:.6em 1em}nav a{color:#fff;margin-right:1.2em;"
    "text-decoration:none}main{padding:1em 1.5em}table{border-collapse:collapse;"
    "background:#fff;margin:.5em 0 1.5em}td,th{border:1px solid #d5d9e0;padding:.3em .7em;"
    "text-align:left}th{background:#eef0f4}td.n{text-align:right;font-variant-numeric:"
    "tabular-nums}.bad{color:#b3261e;font-weight:600}.ok{color:#1e7b34;font-weight:600}"
    "pre{background:#fff;border:1px solid #d5d9e0;padding:.7em;overflow:auto}"
    "form{display:inline}button{cursor:pointer}";

/* Text escaped for HTML content and attribute values. */
static void esc(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

/* Escaped for a URL query value. */
static void qesc(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;

        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            strchr("-._~", ch)) {
            fputc(ch, f);
        } else {
            fprintf(f, "%%%02X", ch);
        }
    }
}

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));

    return s ? s : "";
}

/* A number cell; "-" for null. */
static void num(FILE *f, const json_t *v)
{
    fputs("<td class=n>", f);
    if (json_is_integer(v)) {
        fprintf(f, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        fprintf(f, "%.0f", json_real_value(v));
    } else {
        fputs("-", f);
    }
    fputs("</td>", f);
}

/* A number cell with data-k="<a>:<b>:<c>[:<d>]". */
static void knum(FILE *f, const json_t *v, const char *a, const char *b, const char *c,
                 const json_t *d)
{
    fputs("<td class=n data-k=\"", f);
    esc(f, a);
    fputc(':', f);
    esc(f, b);
    if (c) {
        fputc(':', f);
        esc(f, c);
    }
    if (d) {
        fprintf(f, ":%lld", (long long)json_integer_value(d));
    }
    fputs("\">", f);
    if (json_is_integer(v)) {
        fprintf(f, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        fprintf(f, "%.0f", json_real_value(v));
    } else {
        fputs("-", f);
    }
    fputs("</td>", f);
}

static void yesno(FILE *f, int ok, const char *yes, const char *no)
{
    fprintf(f, "<td class=%s>%s</td>", ok ? "ok" : "bad", ok ? yes : no);
}

/* "<h2>title</h2>", then, when \p o's "ok" is not true, why it shows nothing. 1 when ok. */
static int section(FILE *f, const char *title, const json_t *o, const char *why)
{
    fputs("<h2>", f);
    esc(f, title);
    fputs("</h2>", f);
    if (json_is_true(json_object_get(o, "ok"))) {
        return 1;
    }
    fprintf(f, "<p class=bad>%s</p>", why);
    return 0;
}

/* A row's first cell: "<tr><td>text</td>". */
static void row_first(FILE *f, const char *text)
{
    fputs("<tr><td>", f);
    esc(f, text);
    fputs("</td>", f);
}

/* The table of dead letters (letter_row()s) of /dlq and /failures. */
#define LETTERS_TABLE "<table><tr><th>time<th>class<th>store<th>key<th>error<th>letter</tr>"

static void page_overview(FILE *f, const json_t *d)
{
    size_t i;
    json_t *w;

    fputs("<h1>Pool health</h1><table><tr><th>worker<th>admin<th>up<th>ready<th>in flight"
          "<th>paused partitions<th>assigned<th>consumer lag<th>dead letters<th>events</tr>",
          f);
    json_array_foreach(json_object_get(d, "workers"), i, w)
    {
        const char *n = str(w, "name");

        fputs("<tr><td>", f);
        esc(f, n);
        fputs("<td>", f);
        esc(f, str(w, "url"));
        fputs("</td>", f);
        yesno(f, json_is_true(json_object_get(w, "up")), "up", "DOWN");
        yesno(f, json_is_true(json_object_get(w, "ready")), "ready", "not ready");
        knum(f, json_object_get(w, "inflight"), "inflight", n, NULL, NULL);
        knum(f, json_object_get(w, "paused"), "paused", n, NULL, NULL);
        num(f, json_object_get(w, "assigned"));
        num(f, json_object_get(w, "lag"));
        knum(f, json_object_get(w, "dead_letters"), "deadletters", n, NULL, NULL);
        num(f, json_object_get(w, "events"));
        fputs("</tr>", f);
    }
    fputs("</table>", f);
}

static void page_lag(FILE *f, const json_t *d)
{
    size_t i, j;
    json_t *g, *r;

    fputs("<h1>Lag per group and partition</h1>", f);
    json_array_foreach(json_object_get(d, "groups"), i, g)
    {
        const char *gn = str(g, "group");

        if (!section(f, gn, g,
                     "no committed offsets, or Kafka did not answer (see the console's log)")) {
            continue;
        }
        fputs("<table><tr><th>topic<th>partition<th>committed<th>end<th>lag</tr>", f);
        json_array_foreach(json_object_get(g, "rows"), j, r)
        {
            row_first(f, str(r, "topic"));
            num(f, json_object_get(r, "partition"));
            num(f, json_object_get(r, "committed"));
            num(f, json_object_get(r, "end"));
            knum(f, json_object_get(r, "lag"), "lag", gn, str(r, "topic"),
                 json_object_get(r, "partition"));
            fputs("</tr>", f);
        }
        fputs("<tr><th colspan=4>total</th>", f);
        knum(f, json_object_get(g, "total"), "lagtotal", gn, NULL, NULL);
        fputs("</tr></table>", f);
    }
}

static void letter_row(FILE *f, const char *topic, const json_t *l)
{
    fputs("<tr><td>", f);
    esc(f, str(l, "time"));
    fputs("<td>", f);
    esc(f, str(l, "error-class"));
    fputs("<td>", f);
    esc(f, str(l, "store"));
    fputs("<td>", f);
    esc(f, str(l, "key"));
    fputs("<td>", f);
    esc(f, str(l, "error"));
    fputs("<td><a href=\"/letter?topic=", f);
    qesc(f, topic);
    fprintf(f, "&amp;p=%lld&amp;o=%lld\">%lld@%lld</a></tr>",
            (long long)json_integer_value(json_object_get(l, "partition")),
            (long long)json_integer_value(json_object_get(l, "offset")),
            (long long)json_integer_value(json_object_get(l, "partition")),
            (long long)json_integer_value(json_object_get(l, "offset")));
}

static void redrive_form(FILE *f, const char *topic, const char *klass, const char *csrf)
{
    fputs("<form method=post action=\"/redrive\"><input type=hidden name=topic value=\"", f);
    esc(f, topic);
    fputs("\"><input type=hidden name=class value=\"", f);
    esc(f, klass);
    fputs("\"><input type=hidden name=csrf value=\"", f);
    esc(f, csrf);
    fputs("\"><input type=password name=token placeholder=\"operator token\" size=14>"
          "<button>redrive (dry run)</button></form>",
          f);
}

static void page_dlq(FILE *f, const json_t *d, const char *csrf)
{
    size_t i, j;
    json_t *t, *l, *n;
    const char *k;

    fputs("<h1>Dead letters</h1><p>Not yet redriven, by class. A redrive shows what it "
          "would write first; the ledger never offers a letter twice.</p>",
          f);
    json_array_foreach(json_object_get(d, "topics"), i, t)
    {
        const char *tn = str(t, "topic");

        if (!section(f, tn, t, "cannot read it (see the console's log)")) {
            continue;
        }
        fputs("<table><tr><th>class<th>letters<th></tr>", f);
        json_object_foreach(json_object_get(t, "classes"), k, n)
        {
            row_first(f, k);
            knum(f, n, "dlq", tn, k, NULL);
            fputs("<td>", f);
            redrive_form(f, tn, k, csrf);
            fputs("</tr>", f);
        }
        fputs("<tr><th>total</th>", f);
        knum(f, json_object_get(t, "total"), "dlqtotal", tn, NULL, NULL);
        fputs("<td></tr></table>" LETTERS_TABLE, f);
        json_array_foreach(json_object_get(t, "rows"), j, l)
        {
            letter_row(f, tn, l);
        }
        fputs("</table>", f);
    }
}

static void page_letter(FILE *f, const json_t *d)
{
    char *headers = json_dumps(json_object_get(d, "headers"), JSON_INDENT(2));
    char *payload = json_dumps(json_object_get(d, "payload"), JSON_INDENT(2) | JSON_ENCODE_ANY);

    fputs("<h1>Dead letter ", f);
    esc(f, str(d, "topic"));
    fprintf(f, " %lld@%lld</h1><table>",
            (long long)json_integer_value(json_object_get(d, "partition")),
            (long long)json_integer_value(json_object_get(d, "offset")));
    static const char *const keys[] = {"time",           "error-class", "error",
                                       "original-topic", "attempts",    "worker",
                                       "store",          "key",         "redriven"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        fputs("<tr><th>", f);
        esc(f, keys[i]);
        fputs("<td>", f);
        esc(f, str(d, keys[i]));
        fputs("</tr>", f);
    }
    fputs("</table><h2>Payload</h2><pre id=payload>", f);
    esc(f, payload);
    fputs("</pre><h2>Headers</h2><pre>", f);
    esc(f, headers);
    fputs("</pre>", f);
    free(headers);
    free(payload);
}

static void page_stores(FILE *f, const json_t *d)
{
    size_t i;
    json_t *s;

    fputs("<h1>Stores: full sync and Shopify bucket</h1>", f);
    if (json_object_get(d, "error")) {
        fputs("<p class=bad>", f);
        esc(f, str(d, "error"));
        fputs("</p>", f);
    }
    fputs("<table><tr><th>store<th>sync running<th>requested<th>pages<th>rows"
          "<th>last success (epoch s)<th>bucket available<th>capacity<th>restore/s"
          "<th>cooldown ms</tr>",
          f);
    json_array_foreach(json_object_get(d, "stores"), i, s)
    {
        const char *n = str(s, "store");
        json_t *p = json_object_get(s, "progress"), *b = json_object_get(s, "bucket");

        fputs("<tr><td>", f);
        esc(f, n);
        fputs("<td data-k=\"running:", f);
        esc(f, n);
        fputs("\">", f);
        esc(f, json_is_string(json_object_get(s, "running")) ? str(s, "running") : "no");
        fprintf(f, "<td>%s</td>", json_is_true(json_object_get(s, "requested")) ? "yes" : "no");
        knum(f, json_object_get(p, "pages"), "pages", n, NULL, NULL);
        knum(f, json_object_get(p, "rows"), "rows", n, NULL, NULL);
        num(f, json_object_get(s, "last_success"));
        knum(f, json_object_get(b, "available"), "bucket", n, NULL, NULL);
        num(f, json_object_get(b, "capacity"));
        num(f, json_object_get(b, "restore_rate"));
        knum(f, json_object_get(b, "cooldown_ms"), "cooldown", n, NULL, NULL);
        fputs("</tr>", f);
    }
    fputs("</table>", f);
}

static void page_failures(FILE *f, const json_t *d)
{
    size_t i;
    json_t *l;

    fputs("<h1>Recent failures</h1><p>The newest dead letters of every topic.</p>" LETTERS_TABLE,
          f);
    json_array_foreach(json_object_get(d, "failures"), i, l)
    {
        letter_row(f, str(l, "topic"), l);
    }
    fputs("</table>", f);
}

static void page_redrive(FILE *f, const json_t *d, const char *csrf)
{
    int execute = json_is_true(json_object_get(d, "execute"));
    size_t i, n = json_array_size(json_object_get(d, "rows"));
    json_t *l;

    fputs(execute ? "<h1>Redriven</h1>" : "<h1>Redrive: dry run</h1>", f);
    if (!json_is_true(json_object_get(d, "ok"))) {
        fputs("<p class=bad>Failed (see the console's log).</p>", f);
    }
    fprintf(f, "<p><span data-k=\"redrive:%s\">%zu</span> letter(s) of class <b>",
            execute ? "written" : "would", n);
    esc(f, str(d, "class"));
    fputs("</b> from ", f);
    esc(f, str(d, "topic"));
    fputs(execute ? " written back to their topics.</p>" : " would be written back:</p>", f);
    fputs("<table><tr><th>time<th>class<th>store<th>key<th>error<th>letter</tr>", f);
    json_array_foreach(json_object_get(d, "rows"), i, l)
    {
        letter_row(f, str(d, "topic"), l);
    }
    fputs("</table>", f);
    if (!execute && n) {
        fputs("<form method=post action=\"/redrive\"><input type=hidden name=confirm "
              "value=1><input type=hidden name=topic value=\"",
              f);
        esc(f, str(d, "topic"));
        fputs("\"><input type=hidden name=class value=\"", f);
        esc(f, str(d, "class"));
        fputs("\"><input type=hidden name=letters value=\"", f);
        json_array_foreach(json_object_get(d, "rows"), i, l)
        {
            fprintf(f, "%s%lld@%lld", i ? "," : "",
                    (long long)json_integer_value(json_object_get(l, "partition")),
                    (long long)json_integer_value(json_object_get(l, "offset")));
        }
        fputs("\"><input type=hidden name=csrf value=\"", f);
        esc(f, csrf);
        fputs("\"><input type=password name=token placeholder=\"operator token\">"
              "<button>confirm: redrive these</button></form>",
              f);
    }
}

void console_html_page(FILE *f, const char *page, const json_t *data, int refresh_s,
                       const char *csrf)
{
    fputs("<!doctype html><html><head><meta charset=utf-8><title>dockhand console</title>", f);
    if (refresh_s > 0 && strcmp(page, "redrive") && strcmp(page, "letter")) {
        fprintf(f, "<meta http-equiv=refresh content=%d>", refresh_s);
    }
    fprintf(f,
            "<style>%s</style></head><body><nav><a href=\"/\">pool</a><a href=\"/lag\">lag"
            "</a><a href=\"/dlq\">dead letters</a><a href=\"/stores\">stores</a>"
            "<a href=\"/failures\">recent failures</a></nav><main>",
            css);
    if (!strcmp(page, "overview")) {
        page_overview(f, data);
    } else if (!strcmp(page, "lag")) {
        page_lag(f, data);
    } else if (!strcmp(page, "dlq")) {
        page_dlq(f, data, csrf);
    } else if (!strcmp(page, "letter")) {
        page_letter(f, data);
    } else if (!strcmp(page, "stores")) {
        page_stores(f, data);
    } else if (!strcmp(page, "failures")) {
        page_failures(f, data);
    } else if (!strcmp(page, "redrive")) {
        page_redrive(f, data, csrf);
    }
    fputs("</main></body></html>\n", f);
}
