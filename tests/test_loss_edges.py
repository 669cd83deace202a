"""Every loss at the edges of its domain: masked classes (logits or log-probabilities of -inf), probabilities
of exactly 0 and 1, logits of +-1e4, +-1e30 and +-inf, float32 logits of 1e8. The values and gradients
must be finite wherever the true ones are, and equal PyTorch's (float64: rtol 1e-12) except where
PyTorch's are not the true ones; each such place is listed in TORCH_DIFFERS with the reason.

CASES is the table of inputs; EXPECTED holds, for every case and reduction, the value and the gradients
of the input and (for float targets) of the target, reached through a fixed upstream gradient that varies
in sign and size from element to element for reduction="none" (UPSTREAM), and through -1.25 for a
scalar loss. The numbers came from torch 2.13 (float64 unless the case is float32, which torch computed
in float32), except the fields named in TORCH_DIFFERS: those hold the true values, derived in the note
beside each. When torch is installed, the same table is also compared with torch live."""

import warnings
from typing import NamedTuple

import numpy as np
import pytest

import tinygrad_edu.nn.functional as F
from tinygrad_edu import Tensor

inf, nan = np.inf, np.nan
REDUCTIONS = ("mean", "sum", "none")
SCALAR_UPSTREAM = -1.25


class Case(NamedTuple):
    loss: str            # name of the function in tinygrad_edu.nn.functional (and torch.nn.functional)
    input: list
    target: object       # integer class indices (not differentiated) or floats (differentiated)
    dtype: type = np.float64


def upstream(shape, dtype):
    """The gradient fed into backward of a reduction="none" loss: varied signs and sizes, never all ones."""
    size = int(np.prod(shape))
    return (1.5 * np.cos(1.7 * np.arange(size) + 0.3)).reshape(shape).astype(dtype)


with np.errstate(divide="ignore"):
    LOG_HALF_ZERO_HALF = np.log([[0.5, 0.0, 0.5], [0.0, 1.0, 0.0]]).tolist()

CASES = {
    # cross_entropy with class indices: masked (-inf) logits that are not the target leave everything finite
    "ce_index_masked_other_class": Case("cross_entropy", [[1.0, -inf, 2.0], [0.5, 0.25, -inf], [-inf, 3.0, -1.0]],
                                        [0, 1, 2]),
    "ce_index_masked_target": Case("cross_entropy", [[1.0, -inf, 2.0], [0.0, 1.0, 2.0]], [1, 2]),
    "ce_index_logits_1e4": Case("cross_entropy", [[1e4, 0.0, -1e4], [-1e4, 1e4, 0.0]], [0, 0]),
    "ce_index_logits_1e30": Case("cross_entropy", [[1e30, -1e30, 0.0], [0.0, 1e30, -1e30], [1e30, 1e30, -1e30]],
                                 [1, 1, 0]),
    "ce_index_spatial_masked": Case("cross_entropy", [[[0.5, -inf], [-inf, 1.0], [2.0, 0.0]],
                                                      [[1.0, 2.0], [-inf, -inf], [0.0, 3.0]]], [[0, 1], [2, 0]]),
    "ce_index_unbatched_masked": Case("cross_entropy", [0.5, -inf, 1.5], 2),
    "ce_index_float32_equal_logits": Case("cross_entropy", [[1e4, 1e4], [1e6, 1e6], [1e8, 1e8], [1e30, 1e30]],
                                          [0, 1, 0, 1], np.float32),
    "ce_index_float32_masked": Case("cross_entropy", [[1.0, -inf, 2.0], [-inf, 0.0, 5.0]], [0, 2], np.float32),
    # cross_entropy with probability targets
    "ce_prob_masked_zero_target": Case("cross_entropy", [[1.0, -inf, 3.0], [0.5, 2.0, -inf]],
                                       [[0.5, 0.0, 0.5], [0.25, 0.75, 0.0]]),
    "ce_prob_one_hot_masked": Case("cross_entropy", [[1.0, -inf, 2.0], [-inf, 0.5, 0.25]],
                                   [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]),
    "ce_prob_masked_positive_target": Case("cross_entropy", [[1.0, -inf, 2.0], [0.0, 1.0, 2.0]],
                                           [[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]]),
    "ce_prob_logits_1e30": Case("cross_entropy", [[1e30, -1e30, 0.0], [-1e4, 1e4, 0.0]],
                                [[0.25, 0.0, 0.75], [0.0, 1.0, 0.0]]),
    "ce_prob_soft": Case("cross_entropy", [[0.3, -1.2, 2.5, 0.0], [1.5, 1.5, -0.5, 4.0], [-3.0, 0.1, 0.2, 0.3]],
                         [[0.1, 0.0, 0.6, 0.3], [0.25, 0.25, 0.25, 0.25], [0.0, 0.0, 0.0, 1.0]]),
    # nll_loss: log-probabilities of -inf (log 0)
    "nll_log_zero_elsewhere": Case("nll_loss", LOG_HALF_ZERO_HALF, [0, 1]),
    "nll_log_zero_target": Case("nll_loss", LOG_HALF_ZERO_HALF, [1, 0]),
    "nll_spatial_masked": Case("nll_loss", [[[-0.5, -inf], [-inf, -1.0], [-2.0, -0.1]],
                                            [[-1.0, -2.0], [-inf, -inf], [-0.3, -3.0]]], [[0, 1], [2, 0]]),
    # mse_loss: huge differences
    "mse_1e30": Case("mse_loss", [1e30, -1e30, 0.5], [0.0, 1e30, 0.25]),
    "mse_1e200_value_overflows": Case("mse_loss", [1e200, 3.0], [-1e200, 1.0]),
    "mse_float32_2e38": Case("mse_loss", [0.0, 2e38, 1.0, -1.0], [0.0, 0.0, 0.5, 0.5], np.float32),
    # binary_cross_entropy: probabilities 0 and 1, and close to them
    "bce_probabilities_0_and_1": Case("binary_cross_entropy", [0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]),
    "bce_within_1e_12_of_0_and_1": Case("binary_cross_entropy", [1e-13, 1e-13, 1 - 1e-13, 1e-50, 1e-50, 5e-324],
                                        [1.0, 0.0, 0.0, 1.0, 0.0, 1.0]),
    "bce_tiny_p_label_0": Case("binary_cross_entropy", [1e-8, 1e-10, 3e-17], [0.0, 0.0, 0.0]),
    "bce_inside": Case("binary_cross_entropy", [0.01, 0.3, 0.5, 0.7, 0.99, 1e-5], [1.0, 0.0, 0.25, 0.8, 0.0, 1.0]),
    "bce_float32_edges": Case("binary_cross_entropy", [0.0, 1.0, 0.5, 1.0], [1.0, 0.0, 1.0, 1.0], np.float32),
    # binary_cross_entropy_with_logits: huge, infinite and tail logits
    "bcel_logits_1e4_1e30_0": Case("binary_cross_entropy_with_logits",
                                   [1e4, -1e4, 1e4, -1e4, 1e30, -1e30, 0.0, 0.0],
                                   [1.0, 0.0, 0.0, 1.0, 0.25, 0.25, 0.0, 1.0]),
    "bcel_logits_inf": Case("binary_cross_entropy_with_logits", [inf, inf, -inf, -inf], [1.0, 0.0, 1.0, 0.0]),
    "bcel_tails": Case("binary_cross_entropy_with_logits", [50.0, -50.0, 40.0, -40.0, -800.0],
                       [1.0, 0.0, 1.0, 0.0, 0.3]),
    "bcel_float32": Case("binary_cross_entropy_with_logits", [1e30, -1e30, 1e4, 0.0], [1.0, 1.0, 0.0, 0.5],
                         np.float32),
}

# Where PyTorch's number is not the true one, EXPECTED holds the true one. Keys: (case, reduction or None for
# every reduction) -> {field: why}.
TORCH_DIFFERS = {
    ("ce_prob_masked_zero_target", None): {
        "value": "torch forms 0 * log_softmax = 0 * -inf = nan; the true value (the limit t log p -> 0) is finite",
        "grad_target": "d/dt of -t log p at log p = -inf is +inf in torch; here 0, as torch.special.xlogy's "
                       "gradient at t = 0",
    },
    ("ce_prob_one_hot_masked", None): {
        "value": "torch: 0 * -inf = nan; a one-hot target gives the class-index value",
        "grad_target": "torch: +inf at the masked class; here 0 (xlogy's convention)",
    },
    ("mse_float32_2e38", "none"): {
        "grad_input": "torch forms 2 * (x - t) = 4e38 first, which overflows float32 to inf; the true gradient "
                      "2 * 2e38 * upstream[1] = 2 * 2e38 * (-0.6242) = -2.5e38 is representable",
        "grad_target": "the same overflow in torch; the true gradient is +2.5e38",
    },
    ("bce_probabilities_0_and_1", None): {
        "grad_input": "torch divides (p - t) by max(p (1 - p), 1e-12): 0, -1e12, 1e12, 0; the derivative of the "
                      "floored value is 1, 0, 0, -1 (d/dp of -log(1 - p) at p = 0 is 1; a floored log is constant)",
        "grad_target": "torch differentiates with unfloored logs: +-inf; the floored value's derivative is +-100",
    },
    ("bce_tiny_p_label_0", None): {
        "grad_input": "at p = 3e-17 (p (1 - p) < 1e-12) torch gives p / 1e-12 = 3e-5 times the upstream; the true "
                      "derivative of -log(1 - p) is 1 / (1 - p) = 1",
    },
    ("bce_float32_edges", None): {
        "grad_input": "as in bce_probabilities_0_and_1: torch's clamped quotient (-1e12, 1e12, 0) against the "
                      "derivative of the floored value (0, 0, -1)",
        "grad_target": "torch's unfloored logs give +-inf; the floored value's derivative is +-100",
    },
    ("bce_within_1e_12_of_0_and_1", None): {
        "grad_input": "torch clamps p (1 - p) at 1e-12 (e.g. -1e12 where the true derivative -1/p is -1e13); "
                      "here the exact derivative of the value, 0 where a log is floored at -100",
        "grad_target": "torch uses unfloored logs (115.13 at p = 1e-50, 744.44 at 5e-324); here the floored 100",
    },
    ("bcel_logits_inf", "none"): {
        "value": "x = -inf with t = 1 is a wrong label at infinite confidence: inf (torch: nan)",
    },
    ("bcel_tails", "none"): {
        "value": "at x = -50, t = 0 the loss log(1 + e^-50) = 1.93e-22 (and 4.25e-18 at x = -40); torch's "
                 "(1 - t) x - log_sigmoid(x) cancels to 0",
    },
    ("bcel_tails", None): {
        "grad_input": "at x = 50, t = 1 the gradient sigmoid(50) - 1 = -1.93e-22 (and -4.25e-18 at x = 40); "
                      "torch's sigmoid(x) - t rounds to 0",
    },
}

# ---- expected values ---------------------------------------------------------------------------------
# Generated by running each case through torch.nn.functional in torch 2.13 (see the module docstring);
# the fields of TORCH_DIFFERS hold the true values instead. (value, grad_input, grad_target or None)
EXPECTED = {
    ('ce_index_masked_other_class', 'mean'): (
        2.0524503451049587,
        [[0.3046077410958354, 0.0, -0.3046077410958354], [-0.23424020870241588, 0.2342402087024159, 0.0],
         [0.0, -0.4091724125157952, 0.4091724125157952]],
        None,
    ),
    ('ce_index_masked_other_class', 'sum'): (
        6.157351035314876,
        [[0.9138232232875061, 0.0, -0.9138232232875061], [-0.7027206261072476, 0.7027206261072476, 0.0],
         [0.0, -1.2275172375473855, 1.2275172375473855]],
        None,
    ),
    ('ce_index_masked_other_class', 'none'): (
        [1.3132616875182228, 0.8259394198788437, 4.0181499279178094],
        [[-1.0476104037803171, 0.0, 1.0476104037803171], [-0.35092195863715003, 0.35092195863715003, 0.0],
         [0.0, -1.2492688897068125, 1.2492688897068125]],
        None,
    ),
    ('ce_index_masked_target', 'mean'): (
        inf,
        [[-0.16808838835624695, 0.625, -0.45691161164375305],
         [-0.05626910823148777, -0.15295529440924852, 0.20922440264073638]],
        None,
    ),
    ('ce_index_masked_target', 'sum'): (
        inf,
        [[-0.3361767767124939, 1.25, -0.9138232232875061],
         [-0.11253821646297554, -0.30591058881849703, 0.41844880528147277]],
        None,
    ),
    ('ce_index_masked_target', 'none'): (
        [inf, 0.4076059644443804],
        [[0.385394329908092, -1.433004733688409, 1.0476104037803171],
         [-0.05619890732606978, -0.15276446856370943, 0.20896337588977928]],
        None,
    ),
    ('ce_index_logits_1e4', 'mean'): (
        10000.0,
        [[0.0, 0.0, 0.0], [0.625, -0.625, 0.0]],
        None,
    ),
    ('ce_index_logits_1e4', 'sum'): (
        20000.0,
        [[0.0, 0.0, 0.0], [1.25, -1.25, 0.0]],
        None,
    ),
    ('ce_index_logits_1e4', 'none'): (
        [-0.0, 20000.0],
        [[0.0, 0.0, 0.0], [0.6242202548207136, -0.6242202548207136, 0.0]],
        None,
    ),
    ('ce_index_logits_1e30', 'mean'): (
        6.666666666666666e+29,
        [[-0.4166666666666667, 0.4166666666666667, 0.0], [0.0, 0.0, 0.0],
         [0.20833333333333334, -0.20833333333333334, 0.0]],
        None,
    ),
    ('ce_index_logits_1e30', 'sum'): (
        2e+30,
        [[-1.25, 1.25, 0.0], [0.0, 0.0, 0.0], [0.625, -0.625, 0.0]],
        None,
    ),
    ('ce_index_logits_1e30', 'none'): (
        [2e+30, -0.0, 0.6931471805599453],
        [[1.433004733688409, -1.433004733688409, 0.0], [0.0, 0.0, 0.0],
         [0.6360750237828062, -0.6360750237828062, 0.0]],
        None,
    ),
    ('ce_index_spatial_masked', 'mean'): (
        1.1602995851343554,
        [[[0.2554920238105136, 0.0], [0.0, 0.08404419417812348], [-0.2554920238105136, -0.08404419417812348]],
         [[-0.22845580582187652, 0.22845580582187652], [0.0, 0.0], [0.22845580582187652, -0.22845580582187652]]],
        None,
    ),
    ('ce_index_spatial_masked', 'sum'): (
        4.6411983405374215,
        [[[1.0219680952420545, 0.0], [0.0, 0.3361767767124939], [-1.0219680952420545, -0.3361767767124939]],
         [[-0.9138232232875061, 0.9138232232875061], [0.0, 0.0], [0.9138232232875061, -0.9138232232875061]]],
        None,
    ),
    ('ce_index_spatial_masked', 'none'): (
        [[1.7014132779827524, 0.31326168751822286], [1.3132616875182228, 1.3132616875182228]],
        [[[-1.1715880945283128, 0.0], [0.0, 0.16787868257942326], [1.1715880945283128, -0.16787868257942326]],
         [[-0.9300162055774097, -0.695996507629818], [0.0, 0.0], [0.9300162055774097, 0.695996507629818]]],
        None,
    ),
    ('ce_index_unbatched_masked', 'mean'): (
        0.31326168751822286,
        [-0.3361767767124939, 0.0, 0.3361767767124939],
        None,
    ),
    ('ce_index_unbatched_masked', 'sum'): (
        0.31326168751822286,
        [-0.3361767767124939, 0.0, 0.3361767767124939],
        None,
    ),
    ('ce_index_unbatched_masked', 'none'): (
        0.31326168751822286,
        [0.385394329908092, 0.0, -0.385394329908092],
        None,
    ),
    ('ce_index_float32_equal_logits', 'mean'): (
        0.6931471824645996,
        [[0.15625, -0.15625], [-0.15625, 0.15625], [0.15625, -0.15625], [-0.15625, 0.15625]],
        None,
    ),
    ('ce_index_float32_equal_logits', 'sum'): (
        2.7725887298583984,
        [[0.625, -0.625], [-0.625, 0.625], [0.625, -0.625], [-0.625, 0.625]],
        None,
    ),
    ('ce_index_float32_equal_logits', 'none'): (
        [0.6931471824645996, 0.6931471824645996, 0.6931471824645996, 0.6931471824645996],
        [[-0.7165023684501648, 0.7165023684501648], [-0.31211012601852417, 0.31211012601852417],
         [0.6360750198364258, -0.6360750198364258], [0.47601965069770813, -0.47601965069770813]],
        None,
    ),
    ('ce_index_float32_masked', 'mean'): (
        0.6599884629249573,
        [[0.4569115936756134, 0.0, -0.4569116234779358], [0.0, -0.004183031618595123, 0.0041830167174339294]],
        None,
    ),
    ('ce_index_float32_masked', 'sum'): (
        1.3199769258499146,
        [[0.9138231873512268, 0.0, -0.9138232469558716], [0.0, -0.008366063237190247, 0.008366033434867859]],
        None,
    ),
    ('ce_index_float32_masked', 'none'): (
        [1.31326162815094, 0.006715348921716213],
        [[-1.0476104021072388, 0.0, 1.0476104021072388], [0.0, -0.0041778129525482655, 0.004177798051387072]],
        None,
    ),
    ('ce_prob_masked_zero_target', 'mean'): (
        0.8516706445128626,
        [[0.23799817373617654, 0.0, -0.23799817373617643], [0.042234047621027296, -0.04223404762102728, 0.0]],
        [[-1.3293300069018579, 0.0, -0.07933000690185787], [-1.0633832987392202, -0.1258832987392203, 0.0]],
    ),
    ('ce_prob_masked_zero_target', 'sum'): (
        1.7033412890257251,
        [[0.4759963474723531, 0.0, -0.47599634747235287], [0.08446809524205459, -0.08446809524205456, 0.0]],
        [[-2.6586600138037157, 0.0, -0.15866001380371575], [-2.1267665974784404, -0.2517665974784406, 0.0]],
    ),
    ('ce_prob_masked_zero_target', 'none'): (
        [1.1269280110429727, 0.5764132779827524],
        [[-0.5456840153170198, 0.0, 0.5456840153170196], [0.042181356748972505, -0.042181356748972484, 0.0]],
        [[3.0478979080390527, -0.0, 0.18188844066223442], [-1.0620566299377394, -0.125726247706669, 0.0]],
    ),
    ('ce_prob_one_hot_masked', 'mean'): (
        1.0696005536985331,
        [[0.45691161164375305, 0.0, -0.45691161164375305], [0.0, -0.3513603130536238, 0.3513603130536238]],
        [[-0.8207885546988892, 0.0, -0.19578855469888928], [0.0, -0.3599621374242773, -0.5162121374242773]],
    ),
    ('ce_prob_one_hot_masked', 'sum'): (
        2.1392011073970663,
        [[0.9138232232875061, 0.0, -0.9138232232875061], [0.0, -0.7027206261072476, 0.7027206261072476]],
        [[-1.6415771093977785, 0.0, -0.39157710939777857], [0.0, -0.7199242748485546, -1.0324242748485546]],
    ),
    ('ce_prob_one_hot_masked', 'none'): (
        [1.3132616875182228, 0.8259394198788437],
        [[-1.0476104037803171, 0.0, 1.0476104037803171], [0.0, -0.35092195863715003, 0.35092195863715003]],
        [[1.8819102147852416, -0.0, 0.4489054810968326], [0.0, -0.3595130514380658, -0.5155681151432442]],
    ),
    ('ce_prob_masked_positive_target', 'mean'): (
        inf,
        [[0.14441161164375305, 0.3125, -0.45691161164375305],
         [0.06873089176851223, 0.03454470559075147, -0.10327559735926362]],
        [[-0.8207885546988892, -inf, -0.19578855469888928],
         [-1.5047537277777379, -0.8797537277777377, -0.25475372777773775]],
    ),
    ('ce_prob_masked_positive_target', 'sum'): (
        inf,
        [[0.2888232232875061, 0.625, -0.9138232232875061],
         [0.13746178353702446, 0.06908941118150294, -0.20655119471852723]],
        [[-1.6415771093977785, -inf, -0.39157710939777857],
         [-3.0095074555554757, -1.7595074555554755, -0.5095074555554755]],
    ),
    ('ce_prob_masked_positive_target', 'none'): (
        [inf, 1.1076059644443805],
        [[-0.3311080369361125, -0.7165023668442045, 1.0476104037803171],
         [0.06864514363807296, 0.03450160788250467, -0.10314675152057753]],
        [[1.8819102147852416, inf, 0.4489054810968326],
         [-1.5028764086333413, -0.8786561538126275, -0.2544358989919139]],
    ),
    ('ce_prob_logits_1e30', 'mean'): (
        3.7500000000000004e+29,
        [[-0.46875, 0.0, 0.46875], [0.0, 0.0, 0.0]],
        [[0.0, -1.25e+30, -6.25e+29], [-12500.0, 0.0, -6250.0]],
    ),
    ('ce_prob_logits_1e30', 'sum'): (
        7.500000000000001e+29,
        [[-0.9375, 0.0, 0.9375], [0.0, 0.0, 0.0]],
        [[0.0, -2.5e+30, -1.25e+30], [-25000.0, 0.0, -12500.0]],
    ),
    ('ce_prob_logits_1e30', 'none'): (
        [7.500000000000001e+29, -0.0],
        [[1.0747535502663068, 0.0, -1.0747535502663068], [0.0, 0.0, 0.0]],
        [[-0.0, 2.866009467376818e+30, 1.433004733688409e+30], [-12484.405096414273, 0.0, -6242.202548207137]],
    ),
    ('ce_prob_soft', 'mean'): (
        1.572930353099333,
        [[0.003749830553604611, -0.008460389714229305, -0.09219995777621638, 0.09691051693684105],
         [0.07506542097029006, 0.07506542097029006, 0.10022824133780929, -0.2503590832783894],
         [-0.005567200625043304, -0.12358044824872262, -0.1365775174472408, 0.26572516632100673]],
        [[-0.9987047098163959, -1.623704709816396, -0.08203804314972911, -1.123704709816396],
         [-1.1089606503880751, -1.1089606503880751, -1.9422939837214082, -0.06729398372140832],
         [-1.7980809145030285, -0.5064142478363621, -0.4647475811696955, -0.4230809145030288]],
    ),
    ('ce_prob_soft', 'sum'): (
        4.718791059297999,
        [[0.011249491660813824, -0.025381169142687912, -0.2765998733286491, 0.29073155081052315],
         [0.22519626291087017, 0.22519626291087017, 0.30068472401342783, -0.7510772498351681],
         [-0.016701601875129913, -0.3707413447461678, -0.40973255234172246, 0.7971754989630202]],
        [[-2.9961141294491878, -4.871114129449188, -0.2461141294491873, -3.3711141294491878],
         [-3.326881951164225, -3.326881951164225, -5.826881951164225, -0.20188195116422497],
         [-5.394242743509086, -1.5192427435090863, -1.3942427435090865, -1.2692427435090865]],
    ),
    ('ce_prob_soft', 'none'): (
        [1.16689130355935, 2.53650556093138, 1.0153941948072691],
        [[-0.0128964598412276, 0.029097068422414368, 0.31709514225405483, -0.33329575083524154],
         [0.11245765489511664, 0.11245765489511664, 0.15015479603548632, -0.37507010582571954],
         [-0.016997554895894752, -0.37731089548270125, -0.4169930287605616, 0.8113014791391576]],
        [[3.4347565841371304, 5.584263684669744, 0.28214617002262987, 3.864658004243653],
         [-1.6613656794513325, -1.6613656794513325, -2.9098061890927593, -0.10081504239954829],
         [-5.489828930188435, -1.5461637827350365, -1.4189487779784755, -1.291733773221914]],
    ),
    ('nll_log_zero_elsewhere', 'mean'): (
        0.34657359027997264,
        [[0.625, 0.0, 0.0], [0.0, 0.625, 0.0]],
        None,
    ),
    ('nll_log_zero_elsewhere', 'sum'): (
        0.6931471805599453,
        [[1.25, 0.0, 0.0], [0.0, 1.25, 0.0]],
        None,
    ),
    ('nll_log_zero_elsewhere', 'none'): (
        [0.6931471805599453, -0.0],
        [[-1.433004733688409, 0.0, 0.0], [0.0, 0.6242202548207136, 0.0]],
        None,
    ),
    ('nll_log_zero_target', 'mean'): (
        inf,
        [[0.0, 0.625, 0.0], [0.625, 0.0, 0.0]],
        None,
    ),
    ('nll_log_zero_target', 'sum'): (
        inf,
        [[0.0, 1.25, 0.0], [1.25, 0.0, 0.0]],
        None,
    ),
    ('nll_log_zero_target', 'none'): (
        [inf, inf],
        [[0.0, -1.433004733688409, 0.0], [0.6242202548207136, 0.0, 0.0]],
        None,
    ),
    ('nll_spatial_masked', 'mean'): (
        0.95,
        [[[0.3125, 0.0], [0.0, 0.3125], [0.0, 0.0]], [[0.0, 0.3125], [0.0, 0.0], [0.3125, 0.0]]],
        None,
    ),
    ('nll_spatial_masked', 'sum'): (
        3.8,
        [[[1.25, 0.0], [0.0, 1.25], [0.0, 0.0]], [[0.0, 1.25], [0.0, 0.0], [1.25, 0.0]]],
        None,
    ),
    ('nll_spatial_masked', 'none'): (
        [[0.5, 1.0], [0.3, 2.0]],
        [[[-1.433004733688409, 0.0], [0.0, 0.6242202548207136], [0.0, 0.0]],
         [[0.0, -0.9520393139139509], [0.0, 0.0], [1.2721500475656125, 0.0]]],
        None,
    ),
    ('mse_1e30', 'mean'): (
        1.6666666666666668e+60,
        [-8.333333333333333e+29, 1.6666666666666665e+30, -0.20833333333333331],
        [8.333333333333333e+29, -1.6666666666666665e+30, 0.20833333333333331],
    ),
    ('mse_1e30', 'sum'): (
        5.0000000000000005e+60,
        [-2.5e+30, 5e+30, -0.625],
        [2.5e+30, -5e+30, 0.625],
    ),
    ('mse_1e30', 'none'): (
        [1.0000000000000001e+60, 4.0000000000000005e+60, 0.0625],
        [2.866009467376818e+30, 2.4968810192828546e+30, -0.6360750237828062],
        [-2.866009467376818e+30, -2.4968810192828546e+30, 0.6360750237828062],
    ),
    ('mse_1e200_value_overflows', 'mean'): (
        inf,
        [-2.4999999999999998e+200, -2.5],
        [2.4999999999999998e+200, 2.5],
    ),
    ('mse_1e200_value_overflows', 'sum'): (
        inf,
        [-4.9999999999999995e+200, -5.0],
        [4.9999999999999995e+200, 5.0],
    ),
    ('mse_1e200_value_overflows', 'none'): (
        [inf, 4.0],
        [5.732018934753636e+200, -2.4968810192828546],
        [-5.732018934753636e+200, 2.4968810192828546],
    ),
    ('mse_float32_2e38', 'mean'): (
        inf,
        [-0.0, -1.2499999346826996e+38, -0.3125, 0.9375],
        [-0.0, 1.2499999346826996e+38, 0.3125, -0.9375],
    ),
    ('mse_float32_2e38', 'sum'): (
        inf,
        [-0.0, -inf, -1.25, 3.75],
        [-0.0, inf, 1.25, -3.75],
    ),
    ('mse_float32_2e38', 'none'): (
        [0.0, inf, 0.25, 2.25],
        [0.0, -2.4968808404165496e+38, -1.2721500396728516, -2.8561179637908936],
        [-0.0, 2.4968808404165496e+38, 1.2721500396728516, 2.8561179637908936],
    ),
    ('bce_probabilities_0_and_1', 'mean'): (
        50.0,
        [-0.3125, 0.0, 0.0, 0.3125],
        [-31.25, -31.25, 31.25, 31.25],
    ),
    ('bce_probabilities_0_and_1', 'sum'): (
        200.0,
        [-1.25, 0.0, 0.0, 1.25],
        [-125.0, -125.0, 125.0, 125.0],
    ),
    ('bce_probabilities_0_and_1', 'none'): (
        [0.0, 100.0, 100.0, -0.0],
        [1.433004733688409, 0.0, 0.0, -0.9520393139139509],
        [143.3004733688409, -62.42202548207136, 127.21500475656124, -95.20393139139509],
    ),
    ('bce_within_1e_12_of_0_and_1', 'mean'): (
        43.311150253498575,
        [2083333333333.333, -0.20833333333335416, -2082685732228.309, 0.0, -0.20833333333333331, 0.0],
        [-6.236167960192186, -6.236167960192186, 6.236103190014305, -20.833333333333332, -20.833333333333332,
         -20.833333333333332],
    ),
    ('bce_within_1e_12_of_0_and_1', 'sum'): (
        259.86690152099146,
        [12500000000000.0, -1.250000000000125, -12496114393369.855, 0.0, -1.25, 0.0],
        [-37.417007761153116, -37.417007761153116, 37.41661914008583, -125.0, -125.0, -125.0],
    ),
    ('bce_within_1e_12_of_0_and_1', 'none'): (
        [29.933606208922594, 1.00000000000005e-13, 29.933295312068765, 100.0, 1e-50, 100.0],
        [-14330047336884.09, -0.624220254820776, -12717546015928.637, -0.0, 1.0268199996642098, 0.0],
        [42.89499939375069, -18.685163295436492, 38.079643055043675, 95.20393139139509, 102.68199996642097,
         -121.66395210924841],
    ),
    ('bce_tiny_p_label_0', 'mean'): (
        3.366666693335e-09,
        [-0.41666667083333336, -0.4166666667083333, -0.41666666666666663],
        [-7.675283639146819, -9.59410455410019, -15.85222262176278],
    ),
    ('bce_tiny_p_label_0', 'sum'): (
        1.0100000080005001e-08,
        [-1.2500000125000001, -1.250000000125, -1.25],
        [-23.025850917440458, -28.78231366230057, -47.55666786528834],
    ),
    ('bce_tiny_p_label_0', 'none'): (
        [1.0000000050000001e-08, 1.00000000005e-10, 3e-17],
        [1.4330047480184567, -0.6242202548831357, -1.2721500475656125],
        [26.396922689516618, -14.373202534888776, -48.39937382951087],
    ),
    ('bce_inside', 'mean'): (
        3.716537079576876,
        [20.833333333333332, -0.2976190476190476, -0.20833333333333334, 0.09920634920634928, -20.833333333333314,
         20833.333333333332],
        [-0.9573166354447062, -0.17652038758066743, 0.0, 0.17652038758066738, 0.9573166354447059, -2.398524055191714],
    ),
    ('bce_inside', 'sum'): (
        22.299222477461257,
        [125.0, -1.7857142857142858, -1.25, 0.5952380952380957, -124.99999999999989, 125000.0],
        [-5.7438998126682375, -1.0591223254840045, 0.0, 1.0591223254840043, 5.743899812668236, -14.391144331150285],
    ),
    ('bce_inside', 'none'): (
        [4.605170185988091, 0.35667494393873234, 0.6931471805599453, 0.5261345160161731, 4.60517018598809,
         11.512925464970229],
        [-143.3004733688409, -0.8917432211724481, -1.2721500475656125, -0.45335205424473884, 102.68199996642088,
         121663.9521092484],
        [6.5848284971084405, -0.5289004863199457, 0.0, -0.8066608736837917, -4.718360962972202, -14.0070679576188],
    ),
    ('bce_float32_edges', 'mean'): (
        50.17328643798828,
        [0.0, 0.0, 0.625, 0.3125],
        [-31.25, 31.25, 0.0, 31.25],
    ),
    ('bce_float32_edges', 'sum'): (
        200.69314575195312,
        [0.0, 0.0, 2.5, 1.25],
        [-125.0, 125.0, 0.0, 125.0],
    ),
    ('bce_float32_edges', 'none'): (
        [100.0, 100.0, 0.6931471824645996, -0.0],
        [-0.0, 0.0, 2.544300079345703, -0.9520393013954163],
        [143.30047607421875, 62.42202377319336, 0.0, -95.20393371582031],
    ),
    ('bcel_logits_1e4_1e30_0', 'mean'): (
        1.25e+29,
        [-0.0, -0.0, -0.15625, 0.15625, -0.1171875, 0.0390625, -0.078125, 0.078125],
        [1562.5, -1562.5, 1562.5, -1562.5, 1.5625e+29, -1.5625e+29, 0.0, 0.0],
    ),
    ('bcel_logits_1e4_1e30_0', 'sum'): (
        1e+30,
        [-0.0, -0.0, -1.25, 1.25, -0.9375, 0.3125, -0.625, 0.625],
        [12500.0, -12500.0, 12500.0, -12500.0, 1.25e+30, -1.25e+30, 0.0, 0.0],
    ),
    ('bcel_logits_1e4_1e30_0', 'none'): (
        [0.0, 0.0, 10000.0, 10000.0, 7.500000000000001e+29, 2.4999999999999993e+29, 0.6931471805599453,
         0.6931471805599453],
        [0.0, -0.0, -1.2721500475656125, -0.9520393139139509, 0.7701149997481573, 0.304159880273121,
         -0.3566526959969944, -0.7002252330559784],
        [-14330.04733688409, -6242.202548207137, 12721.500475656125, 9520.393139139509, -1.0268199996642098e+30,
         -1.2166395210924841e+30, 0.0, -0.0],
    ),
    ('bcel_logits_inf', 'mean'): (
        nan,
        [-0.0, -0.3125, 0.3125, -0.0],
        [inf, inf, -inf, -inf],
    ),
    ('bcel_logits_inf', 'sum'): (
        nan,
        [-0.0, -1.25, 1.25, -0.0],
        [inf, inf, -inf, -inf],
    ),
    ('bcel_logits_inf', 'none'): (
        [nan, inf, inf, nan],
        [0.0, -0.6242202548207136, 1.2721500475656125, 0.0],
        [-inf, inf, -inf, inf],
    ),
    ('bcel_tails', 'mean'): (
        48.0,
        [4.8218746199097946e-23, -4.8218746199097946e-23, 1.0620885638228972e-18, -1.0620885638228972e-18, 0.075],
        [12.5, -12.5, 10.0, -10.0, -200.0],
    ),
    ('bcel_tails', 'sum'): (
        240.0,
        [2.410937309954897e-22, -2.410937309954897e-22, 5.310442819114486e-18, -5.310442819114486e-18, 0.375],
        [62.5, -62.5, 50.0, -50.0, -1000.0],
    ),
    ('bcel_tails', 'none'): (
        [1.9287498479639178e-22, 1.9287498479639178e-22, 4.248354255291589e-18, 4.248354255291589e-18, 240.0],
        [-2.7639076622330933e-22, -1.2039647215814495e-22, 5.404544067944767e-18, 4.044600270471218e-18,
         -0.3080459998992629],
        [-71.65023668442045, -31.21101274103568, 50.8860019026245, 38.08157255655804, 821.4559997313678],
    ),
    ('bcel_float32', 'mean'): (
        2.5000000376186655e+29,
        [-0.0, 0.3125, -0.3125, -0.0],
        [3.1249999525760023e+29, -3.1249999525760023e+29, 3125.0, 0.0],
    ),
    ('bcel_float32', 'sum'): (
        1.0000000150474662e+30,
        [-0.0, 1.25, -1.25, -0.0],
        [1.2499999810304009e+30, -1.2499999810304009e+30, 12500.0, 0.0],
    ),
    ('bcel_float32', 'none'): (
        [0.0, 1.0000000150474662e+30, 10000.0, 0.6931471824645996],
        [0.0, 0.6242202520370483, -1.2721500396728516, 0.0],
        [-1.4330047537520242e+30, -6.242202711404809e+29, 12721.5, -0.0],
    ),
}


def run_ours(case: Case, reduction: str):
    """(value, grad_input, grad_target or None) of our loss, with backward through the fixed upstream."""
    x = Tensor(np.asarray(case.input, dtype=case.dtype), requires_grad=True)
    target_array = np.asarray(case.target)
    if target_array.dtype.kind == "f":
        target = Tensor(target_array.astype(case.dtype), requires_grad=True)
    else:
        target = target_array
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # inputs of inf/nan, chosen on purpose
        loss = getattr(F, case.loss)(x, target, reduction=reduction)
        grad = upstream(loss.shape, case.dtype) if reduction == "none" else np.asarray(SCALAR_UPSTREAM, case.dtype)
        loss.backward(grad)
    target_grad = target.grad.data if isinstance(target, Tensor) else None
    return loss.data, x.grad.data, target_grad


def run_torch(torch, case: Case, reduction: str):
    """The same through torch.nn.functional, in the case's dtype."""
    dtype = {np.float64: torch.float64, np.float32: torch.float32}[case.dtype]
    x = torch.tensor(np.asarray(case.input, dtype=case.dtype), dtype=dtype, requires_grad=True)
    target_array = np.asarray(case.target)
    if target_array.dtype.kind == "f":
        target = torch.tensor(target_array.astype(case.dtype), dtype=dtype, requires_grad=True)
    else:
        target = torch.tensor(target_array)
    loss = getattr(torch.nn.functional, case.loss)(x, target, reduction=reduction)
    grad = upstream(tuple(loss.shape), case.dtype) if reduction == "none" else np.asarray(SCALAR_UPSTREAM, case.dtype)
    loss.backward(torch.tensor(grad, dtype=dtype))
    target_grad = target.grad.numpy() if target.requires_grad else None
    return loss.detach().numpy(), x.grad.numpy(), target_grad


FIELDS = ("value", "grad_input", "grad_target")


def differs(name, reduction):
    return {**TORCH_DIFFERS.get((name, None), {}), **TORCH_DIFFERS.get((name, reduction), {})}


def tolerances(expected, case):
    """(rtol, atol): rtol 1e-12 in float64. In float32, two units in the last place of the field's largest
    finite element: softmax - one_hot rounds at the scale of 1 however small the difference is (PyTorch's too)."""
    if case.dtype == np.float64:
        return 1e-12, 0.0
    finite = np.abs(expected[np.isfinite(expected)])
    return 2.0 ** -22, 2.0 ** -22 * (finite.max() if finite.size else 0.0)


def assert_same(actual, expected, case, what):
    assert (actual is None) == (expected is None), what
    if expected is None:
        return
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    rtol, atol = tolerances(expected, case)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


def agree(actual, expected, case) -> bool:
    """What assert_same checks, as a yes/no (nan equals nan, inf equals inf of the same sign)."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    rtol, atol = tolerances(expected, case)
    return actual.shape == expected.shape and bool(np.allclose(actual, expected, rtol=rtol, atol=atol,
                                                               equal_nan=True))


ROWS = [(name, reduction) for name in CASES for reduction in REDUCTIONS]


@pytest.mark.parametrize(("name", "reduction"), ROWS, ids=[f"{n}-{r}" for n, r in ROWS])
def test_value_and_gradients_equal_the_table(name, reduction):
    case = CASES[name]
    for field, actual, expected in zip(FIELDS, run_ours(case, reduction), EXPECTED[name, reduction]):
        assert_same(actual, expected, case, f"{name} ({reduction}): {field}")


@pytest.mark.parametrize(("name", "reduction"), ROWS, ids=[f"{n}-{r}" for n, r in ROWS])
def test_gradients_are_finite_wherever_the_true_ones_are(name, reduction):
    # Every gradient in the table is the true one (TORCH_DIFFERS replaced PyTorch's where it is not): a nan
    # or inf of ours must sit exactly where the table has one.
    case = CASES[name]
    _, grad_input, grad_target = run_ours(case, reduction)
    _, expected_input, expected_target = EXPECTED[name, reduction]
    for actual, expected in ((grad_input, expected_input), (grad_target, expected_target)):
        if expected is not None:
            np.testing.assert_array_equal(np.isfinite(actual), np.isfinite(np.asarray(expected, dtype=np.float64)))


@pytest.mark.parametrize(("name", "reduction"), ROWS, ids=[f"{n}-{r}" for n, r in ROWS])
def test_live_torch_agrees_except_where_listed(name, reduction):
    torch = pytest.importorskip("torch", reason="torch is not installed: the live PyTorch comparison is skipped")
    case = CASES[name]
    listed = differs(name, reduction)
    ours = run_ours(case, reduction)
    for field, actual, theirs in zip(FIELDS, ours, run_torch(torch, case, reduction)):
        if field in listed:
            assert not agree(actual, theirs, case), f"{name} ({reduction}): {field} now equals torch's; " \
                                                    "the note in TORCH_DIFFERS is stale"
        else:
            assert_same(actual, theirs, case, f"{name} ({reduction}): {field} against torch")


def test_every_torch_difference_names_a_case_and_a_field():
    for (name, reduction), fields in TORCH_DIFFERS.items():
        assert name in CASES and reduction in (None, *REDUCTIONS)
        assert set(fields) <= set(FIELDS)


# ---- the properties behind the table, stated directly ----------------------------------------------------

def test_nll_loss_of_log_zero_elsewhere_is_log_2_with_gradient_minus_one_at_the_target():
    with np.errstate(divide="ignore"):
        log_probs = Tensor(np.log([[0.5, 0.0, 0.5]]), requires_grad=True)
    loss = F.nll_loss(log_probs, [0])
    loss.backward()
    assert loss.item() == pytest.approx(np.log(2), rel=1e-15)
    assert log_probs.grad.data.tolist() == [[-1.0, 0.0, 0.0]]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_class_indices_and_their_one_hot_targets_agree_with_masked_logits(dtype):
    logits = np.array([[1.0, -inf, 2.0, 0.5], [-inf, -inf, 0.0, 3.0]], dtype=dtype)
    target = np.array([3, 2])
    results = []
    for tgt in (target, np.eye(4, dtype=dtype)[target]):
        x = Tensor(logits, requires_grad=True)
        loss = F.cross_entropy(x, tgt, reduction="none")
        loss.backward(upstream(loss.shape, dtype))
        results.append((loss.data, x.grad.data))
    assert np.isfinite(results[0][0]).all() and np.isfinite(results[0][1]).all()
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


@pytest.mark.parametrize("scale", [1e4, 1e6, 1e8, 1e30])
def test_float32_cross_entropy_of_equal_huge_logits_is_log_2(scale):
    logits = Tensor(np.array([[scale, scale]], dtype=np.float32), requires_grad=True)
    loss = F.cross_entropy(logits, [0])
    loss.backward()
    assert loss.dtype == np.float32 and loss.item() == np.float32(np.log(2))
    assert logits.grad.data.tolist() == [[-0.5, 0.5]]


def test_losses_at_the_edges_raise_no_floating_point_warnings():
    # Masked logits and probabilities 0 and 1 are ordinary inputs: no overflow, no 0 * inf, no log 0 inside.
    # (Underflow is allowed: e^-1e30 rounding to 0 is the correctly rounded result.)
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        x = Tensor(np.array([[1.0, -inf, 2.0]]), requires_grad=True)
        (F.cross_entropy(x, [0]) + F.cross_entropy(x, [[0.5, 0.0, 0.5]])).backward()
        p = Tensor(np.array([0.0, 1.0, 1e-300]), requires_grad=True)
        F.binary_cross_entropy(p, np.array([1.0, 0.0, 0.0])).backward()
        z = Tensor(np.array([1e30, -1e30, 1e4, -1e4, 0.0]), requires_grad=True)
        F.binary_cross_entropy_with_logits(z, np.array([1.0, 0.0, 0.0, 1.0, 0.5])).backward()
    assert np.isfinite(x.grad.data).all() and np.isfinite(p.grad.data).all() and np.isfinite(z.grad.data).all()
