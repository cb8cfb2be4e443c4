/* stage3_refine.c - stage 3: output-aware code selection for one tensor (GPTQ-style error
 * feedback over vector columns, see quant.h for the objective).
 *
 * Setup (once per tensor, f64): H_u = F H F padded to P = nvec * d columns (padding gets a
 * unit diagonal), damped by damp * mean(diag); U = the upper Cholesky factor of H_u^-1,
 * computed as J M^-1 J with M the lower Cholesky factor of J H_u J (J reverses the order).
 * Per row (f32, fixed order): for each block B of d columns, x' = x U_BB^-1 picks the codes
 * greedily stage by stage against the codebooks mapped the same way (C' = C U_BB^-1), so
 * the distance is the block's share of the output error; the remaining residual r
 * (= (x - q) U_BB^-1) updates the columns after B: x_rest -= r U_B,rest.
 * Only sqrt and the four operations are used: the same bytes on every target. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/kernels.h"
#include "kernels/matmul.h"
#include "compress/stages.h"

struct nq_refiner {
    int64_t cols, P, nvec;
    int d, nstages, K[NQ_MAX_STAGES];
    const double *H;              /* borrowed: cols x cols, undamped */
    float *U;                     /* P x P, upper triangular */
    float *Ub;                    /* nvec blocks of d x d: inverse of U's diagonal blocks */
    float *Ct[NQ_MAX_STAGES];     /* nvec x K x d mapped centroids */
    float *work;                  /* P: the row being coded (one thread per refiner) */
    int64_t *perm;                /* coding order: position k codes vector block perm[k] */
    int icm;                      /* code re-choice rounds after the first pass */
    int beam;                     /* beam width of the first pass (1 = greedy) */
    const float *C[NQ_MAX_STAGES];
};

void nq_refiner_free(nq_refiner *r) {
    if (!r) return;
    free(r->U);
    free(r->Ub);
    free(r->work);
    free(r->perm);
    for (int s = 0; s < NQ_MAX_STAGES; s++) free(r->Ct[s]);
    free(r);
}

/* In-place lower Cholesky factor of the n x n matrix A (upper part left as is). */
static int cholesky_lower(double *A, int64_t n) {
    for (int64_t j = 0; j < n; j++) {
        double *aj = A + j * n, s = aj[j];
        for (int64_t k = 0; k < j; k++) s -= aj[k] * aj[k];
        if (!(s > 0) || !(s < 1e300)) return 0;
        double l = sqrt(s);
        aj[j] = l;
        for (int64_t i = j + 1; i < n; i++) {
            double *ai = A + i * n, t = ai[j];
            for (int64_t k = 0; k < j; k++) t -= ai[k] * aj[k];
            ai[j] = t / l;
        }
    }
    return 1;
}

/* Inverse of the lower-triangular n x n matrix L into Li (lower part; the rest zeroed). */
static void invert_lower(const double *L, int64_t n, double *Li) {
    memset(Li, 0, (size_t)(n * n) * sizeof *Li);
    for (int64_t j = 0; j < n; j++) {
        Li[j * n + j] = 1.0 / L[j * n + j];
        for (int64_t i = j + 1; i < n; i++) {
            double s = 0;
            for (int64_t k = j; k < i; k++) s += L[i * n + k] * Li[k * n + j];
            Li[i * n + j] = -s / L[i * n + i];
        }
    }
}

/* Original column of coding position i (blocks permuted, columns inside a block kept). */
static int64_t col_of(const nq_refiner *r, int64_t i) { return r->perm[i / r->d] * r->d + i % r->d; }

/* A = J P(F H F + pad + damp I)P^T J: permuted to the coding order, reversed so that its
 * lower Cholesky factor gives U directly. */
static void damped_reversed(const nq_refiner *r, const float *colfac, double damp, double *A) {
    int64_t P = r->P, n = r->cols;
    double mean = 0;
    for (int64_t j = 0; j < n; j++) mean += r->H[j * n + j] * colfac[j] * colfac[j];
    mean = n ? mean / (double)n : 1.0;
    if (!(mean > 0)) mean = 1.0;
    for (int64_t pi = 0; pi < P; pi++)
        for (int64_t pj = 0; pj < P; pj++) {
            int64_t i = col_of(r, pi), j = col_of(r, pj);
            double h = i < n && j < n ? r->H[i * n + j] * colfac[i] * colfac[j] : (i == j ? mean : 0.0);
            if (i == j) h += damp * mean;
            A[(P - 1 - pi) * P + (P - 1 - pj)] = h;
        }
}

/* Coding order: blocks by decreasing diagonal weight (GPTQ's "act order": the most
 * important vectors are coded first, while the most columns remain to absorb errors);
 * ties keep the natural order. Without act_order: 0, 1, 2, ... */
static void coding_order(nq_refiner *r, const float *colfac, int act_order) {
    int64_t nb = r->nvec, n = r->cols;
    double *w = malloc((size_t)nb * sizeof *w);
    for (int64_t k = 0; k < nb; k++) r->perm[k] = k;
    if (!act_order || !w) { free(w); return; }
    for (int64_t k = 0; k < nb; k++) {
        w[k] = 0;
        for (int j = 0; j < r->d; j++) {
            int64_t c = k * r->d + j;
            if (c < n) w[k] += r->H[c * n + c] * colfac[c] * colfac[c];
        }
    }
    for (int64_t i = 1; i < nb; i++) { /* insertion sort: stable, deterministic */
        int64_t p = r->perm[i], j = i;
        while (j > 0 && w[r->perm[j - 1]] < w[p]) { r->perm[j] = r->perm[j - 1]; j--; }
        r->perm[j] = p;
    }
    free(w);
}

/* Inverse of the upper-triangular d x d block at U[b..b+d) into out (row-major d x d);
 * L and Li are d x d scratch (the block transposed, lower, and its inverse). */
static void invert_block(const float *U, int64_t P, int64_t b, int d, double *L, double *Li, float *out) {
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) L[i * d + j] = j <= i ? U[(b + j) * P + b + i] : 0.0;
    invert_lower(L, d, Li);
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) out[i * d + j] = (float)Li[j * d + i];
}

static nq_status factor(nq_refiner *r, const float *colfac, double damp, const char *name, nq_err *e) {
    int64_t P = r->P;
    double *A = malloc((size_t)(P * P) * sizeof *A), *Mi = malloc((size_t)(P * P) * sizeof *Mi);
    if (!A || !Mi) { free(A); free(Mi); return nq_fail(e, NQ_E_NOMEM, "tensor '%s': out of memory in stage 3", name); }
    int ok = 0;
    for (int tries = 0; tries < 6 && !ok; tries++, damp *= 10) { /* grow damping until PD */
        damped_reversed(r, colfac, damp, A);
        ok = cholesky_lower(A, P);
    }
    if (ok) {
        invert_lower(A, P, Mi);
        for (int64_t i = 0; i < P; i++)
            for (int64_t j = 0; j < P; j++) r->U[i * P + j] = (float)Mi[(P - 1 - i) * P + (P - 1 - j)];
        double *L = A, *Li = Mi; /* both free again: scratch for the d x d blocks */
        for (int64_t v = 0; v < r->nvec; v++) invert_block(r->U, P, v * r->d, r->d, L, Li, r->Ub + v * r->d * r->d);
    }
    free(A);
    free(Mi);
    return ok ? NQ_OK : nq_fail(e, NQ_E_UNSUPPORTED, "tensor '%s': calibration Hessian is not positive definite", name);
}

nq_status nq_refiner_new(nq_refiner **out, const double *H, int64_t cols, const float *colfac, int d,
                         double damp, int act_order, const char *name, nq_err *e) {
    *out = NULL;
    nq_refiner *r = calloc(1, sizeof *r);
    if (!r) return nq_fail(e, NQ_E_NOMEM, "out of memory");
    r->cols = cols;
    r->d = d;
    r->nvec = (cols + d - 1) / d;
    r->P = r->nvec * d;
    r->H = H;
    r->U = malloc((size_t)(r->P * r->P) * sizeof *r->U);
    r->Ub = malloc((size_t)(r->nvec * d * d) * sizeof *r->Ub);
    r->work = malloc((size_t)r->P * sizeof *r->work);
    r->perm = malloc((size_t)r->nvec * sizeof *r->perm);
    if (r->perm) coding_order(r, colfac, act_order);
    nq_status st = r->U && r->Ub && r->work && r->perm ? factor(r, colfac, damp, name, e)
                                 : nq_fail(e, NQ_E_NOMEM, "tensor '%s': out of memory in stage 3", name);
    if (st) { nq_refiner_free(r); return st; }
    *out = r;
    return NQ_OK;
}

/* y = x B for a row vector x and an upper-triangular d x d block B. */
static void mul_upper(const float *x, const float *B, int d, float *y) {
    for (int j = 0; j < d; j++) {
        float s = 0;
        for (int i = 0; i <= j; i++) s += x[i] * B[i * d + j];
        y[j] = s;
    }
}

nq_status nq_refiner_set_codebooks(nq_refiner *r, const float *const *C, const int *K, int nstages, int icm_rounds, int beam,
                                   nq_err *e) {
    int d = r->d;
    r->nstages = nstages;
    r->icm = icm_rounds;
    r->beam = beam;
    for (int s = 0; s < nstages; s++) {
        r->K[s] = K[s];
        r->C[s] = C[s];
        free(r->Ct[s]);
        r->Ct[s] = malloc((size_t)(r->nvec * K[s] * d) * sizeof(float));
        if (!r->Ct[s]) return nq_fail(e, NQ_E_NOMEM, "out of memory in stage 3");
        for (int64_t v = 0; v < r->nvec; v++)
            for (int k = 0; k < K[s]; k++)
                mul_upper(C[s] + (int64_t)k * d, r->Ub + v * d * d, d, r->Ct[s] + (v * K[s] + k) * d);
    }
    return NQ_OK;
}

void nq_refine_row(nq_refiner *r, const float *u, uint16_t *codes, float *uhat) {
    int d = r->d, S = r->nstages;
    int64_t P = r->P;
    float *work = r->work, x[64], res[64];
    for (int64_t j = 0; j < P; j++) {
        int64_t c = col_of(r, j);
        work[j] = c < r->cols ? u[c] : 0.0f;
    }
    for (int64_t v = 0; v < r->nvec; v++) { /* v: coding position; blk: its vector */
        float *xb = work + v * d;
        int64_t blk = r->perm[v];
        uint16_t *cv = codes + blk * S;
        mul_upper(xb, r->Ub + v * d * d, d, x);
        const float *Ct[NQ_MAX_STAGES];
        for (int s = 0; s < S; s++) Ct[s] = r->Ct[s] + v * r->K[s] * d;
        nq_vq_beam(Ct, r->K, S, d, x, cv, r->beam);
        if (r->icm) nq_vq_icm(Ct, r->K, S, d, x, cv, r->icm); /* joint re-choice */
        memcpy(res, x, (size_t)d * sizeof *res); /* the residual of the final codes */
        for (int s = 0; s < S; s++)
            for (int j = 0; j < d; j++) res[j] -= Ct[s][(int64_t)cv[s] * d + j];
        nq_vq_reconstruct(r->C, cv, S, d, uhat + blk * d);
        for (int i = 0; i < d; i++) { /* feed the block's error forward */
            const float *Ui = r->U + (v * d + i) * P;
            float ri = res[i];
            for (int64_t j = (v + 1) * d; j < P; j++) work[j] -= ri * Ui[j];
        }
    }
}

/* Element j goes into lane j % 4; lanes combine as (l0 + l1) + (l2 + l3). The four lanes are
 * one GCC vector (one register in the AVX2 / AVX-512 clones, two in the SSE2 baseline, scalar
 * where the compiler has no vectors): each lane sees the same IEEE operations in the same
 * order in every build, so the sums are the same bits. */
typedef double nq_v4d __attribute__((vector_size(32)));
NQ_VEC_CLONES void nq_refiner_hmul(const nq_refiner *r, const float *x, double *y) {
    int64_t n = r->cols;
    for (int64_t i = 0; i < n; i++) {
        const double *h = r->H + i * n;
        nq_v4d acc = {0, 0, 0, 0};
        int64_t j = 0;
        for (; j + 4 <= n; j += 4) {
            nq_v4d hv, xv = {x[j], x[j + 1], x[j + 2], x[j + 3]};
            memcpy(&hv, h + j, sizeof hv);
            acc += hv * xv;
        }
        double l[4] = {acc[0], acc[1], acc[2], acc[3]};
        for (; j < n; j++) l[j & 3] += h[j] * x[j];
        y[i] = (l[0] + l[1]) + (l[2] + l[3]);
    }
}
