/* stage1_normalize.c - stage 1: per-output-channel scaling (log-scale codes; means only where
 * they matter), and rescaling of the
 * outlier input channels (top outlier_fraction of columns by variance after row
 * standardization). Everything needed to undo it is stored (see quant.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "compress/stages.h"
#include "common/util.h"

static void row_moments(const float *w, int64_t cols, double *mean, double *sd) {
    double sum = 0, sq = 0;
    for (int64_t j = 0; j < cols; j++) sum += w[j];
    *mean = cols ? sum / (double)cols : 0;
    for (int64_t j = 0; j < cols; j++) sq += (w[j] - *mean) * (w[j] - *mean);
    *sd = cols ? sqrt(sq / (double)cols) : 0;
}

void nq_norm_forward(const nq_norm *nm, int64_t row, const float *w, float *u) {
    float mean = nq_norm_row_mean(nm, row), sc = nm->scale_tab[nm->scale_q[row]];
    if (!nm->rot.block) {
        for (int64_t j = 0; j < nm->cols; j++) u[j] = (w[j] - mean) / sc / nm->colfac[j];
        return;
    }
    for (int64_t j = 0; j < nm->cols; j++) u[j] = w[j] - mean;
    nq_rot_forward(&nm->rot, u);
    for (int64_t j = 0; j < nm->cols; j++) u[j] = u[j] / sc / nm->colfac[j];
}

typedef struct col_var { double v; uint32_t col; } col_var;

static int by_var_desc(const void *a, const void *b) {
    const col_var *x = a, *y = b;
    if (x->v != y->v) return x->v > y->v ? -1 : 1;
    return x->col < y->col ? -1 : 1;
}

/* Choose outlier columns from per-column variances and set their factors. */
static nq_status pick_outliers(nq_norm *nm, const double *var, double fraction, nq_err *e) {
    int64_t cols = nm->cols, n = (int64_t)(fraction * (double)cols);
    if (n <= 0 || n >= cols) return NQ_OK;
    col_var *cv = malloc((size_t)cols * sizeof *cv);
    nm->out_col = malloc((size_t)n * sizeof *nm->out_col);
    nm->out_fac_h = malloc((size_t)n * sizeof *nm->out_fac_h);
    if (!cv || !nm->out_col || !nm->out_fac_h) { free(cv); return nq_fail(e, NQ_E_NOMEM, "out of memory"); }
    for (int64_t j = 0; j < cols; j++) cv[j] = (col_var){var[j], (uint32_t)j};
    qsort(cv, (size_t)cols, sizeof *cv, by_var_desc);
    double thresh = cv[n].v; /* the largest variance that is not an outlier */
    for (int64_t i = 0; i < n && thresh > 0; i++) {
        uint16_t f = nq_f32_to_f16((float)sqrt(cv[i].v / thresh));
        if (nq_f16_to_f32(f) <= 1.0f) break; /* sorted: the rest are no larger */
        nm->out_col[nm->nout] = cv[i].col;
        nm->out_fac_h[nm->nout] = f;
        nm->colfac[cv[i].col] = nq_f16_to_f32(f);
        nm->nout++;
    }
    free(cv);
    return NQ_OK;
}

/* Rows per read while fitting: about 4 MB of f32. */
static int64_t fit_block_rows(int64_t cols) {
    int64_t r = (1 << 20) / (cols > 0 ? cols : 1);
    return r < 1 ? 1 : r;
}

/* Pass 1: g = largest row deviation or |mean| (every stored f16 mean is <= 1, every
 * scale code <= NQ_SCALE_TOP), and whether the row means carry enough energy to store. */
static nq_status fit_base(const nq_model *m, int t, float *buf, int64_t br, nq_norm *nm, nq_err *e) {
    const nq_tensor_info *ti = nq_model_tensor(m, t);
    double gmax = 0, mean_energy = 0, energy = 0;
    for (int64_t r0 = 0; r0 < ti->rows; r0 += br) {
        int64_t n = ti->rows - r0 < br ? ti->rows - r0 : br;
        nq_status s = nq_model_read_rows(m, t, r0, n, buf, e);
        if (s) return s;
        for (int64_t i = 0; i < n; i++) {
            double mean, sd;
            row_moments(buf + i * ti->cols, ti->cols, &mean, &sd);
            if (!(sd < 1e300 && mean > -1e300 && mean < 1e300))
                return nq_fail(e, NQ_E_UNSUPPORTED, "tensor '%s': row %lld has non-finite values",
                               ti->name, (long long)(r0 + i));
            if (fabs(mean) > gmax) gmax = fabs(mean);
            if (sd > gmax) gmax = sd;
            mean_energy += mean * mean * (double)ti->cols;
            energy += (sd * sd + mean * mean) * (double)ti->cols;
        }
    }
    nm->g = gmax > 0 && gmax < 3.0e38 ? (float)gmax : 1.0f;
    nm->has_mean = energy > 0 && mean_energy > NQ_ROW_MEAN_SHARE * energy;
    nq_row_scale_table(nm->g, nm->scale_tab);
    return NQ_OK;
}

static void row_stats(nq_norm *nm, int64_t r, const float *w) {
    double mean, sd;
    row_moments(w, nm->cols, &mean, &sd);
    nm->mean_h[r] = nm->has_mean ? nq_f32_to_f16((float)(mean / nm->g)) : 0;
    double rest = sd; /* without a stored mean the scale covers the whole row */
    if (!nm->has_mean) rest = sqrt(sd * sd + mean * mean);
    nm->scale_q[r] = nq_row_scale_code(nm->scale_tab, rest > 0 ? rest : nm->g);
}

nq_status nq_norm_fit(const nq_model *m, int t, double outlier_fraction, int rotate, uint64_t rot_seed, nq_norm *nm,
                      nq_err *e) {
    const nq_tensor_info *ti = nq_model_tensor(m, t);
    memset(nm, 0, sizeof *nm);
    if (rotate && nq_rot_block(ti->cols) > 1) {
        nq_status rs = nq_rot_init(&nm->rot, ti->cols, rot_seed, e);
        if (rs) return rs;
    }
    nm->rows = ti->rows;
    nm->cols = ti->cols;
    int64_t br = fit_block_rows(ti->cols);
    float *buf = malloc((size_t)(br * ti->cols) * sizeof *buf);
    double *var = calloc((size_t)ti->cols, sizeof *var);
    nm->mean_h = malloc((size_t)ti->rows * sizeof *nm->mean_h);
    nm->scale_q = malloc((size_t)ti->rows * sizeof *nm->scale_q);
    nm->colfac = malloc((size_t)ti->cols * sizeof *nm->colfac);
    nq_status s = NQ_OK;
    if (!buf || !var || !nm->mean_h || !nm->scale_q || !nm->colfac)
        s = nq_fail(e, NQ_E_NOMEM, "tensor '%s': out of memory in stage 1", ti->name);
    if (s == NQ_OK) s = fit_base(m, t, buf, br, nm, e);
    /* Pass 2: stored row stats and column variances of the standardized weights. */
    for (int64_t j = 0; s == NQ_OK && j < ti->cols; j++) nm->colfac[j] = 1.0f;
    for (int64_t r0 = 0; s == NQ_OK && r0 < ti->rows; r0 += br) {
        int64_t n = ti->rows - r0 < br ? ti->rows - r0 : br;
        if ((s = nq_model_read_rows(m, t, r0, n, buf, e))) break;
        for (int64_t i = 0; i < n; i++) {
            float *w = buf + i * ti->cols;
            row_stats(nm, r0 + i, w);
            nq_norm_forward(nm, r0 + i, w, w);
            for (int64_t j = 0; j < ti->cols; j++) var[j] += (double)w[j] * w[j];
        }
    }
    if (s == NQ_OK) s = pick_outliers(nm, var, outlier_fraction, e);
    free(buf);
    free(var);
    if (s) nq_norm_free(nm);
    return s;
}
