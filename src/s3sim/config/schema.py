"""Structured configuration: the one source of truth for every default.

Each model parameter is a dataclass field created with :func:`param`, which stores its plausible range, hard
bounds, unit, meaning, source and stress-test group in the field metadata. :data:`s3sim.PARAMETERS` is built from
these fields, so the ODD parameter table, the validation messages and the stress test cannot drift apart.

The dataclasses are registered in Hydra's ConfigStore (see :mod:`s3sim.config.compose`); YAML files under
``conf/`` only select groups and never restate defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional


def param(
    default: Any,
    *,
    range: tuple[float, float] | None,
    unit: str,
    meaning: str,
    source: str,
    bounds: tuple[float | None, float | None] = (None, None),
    group: str = "core",
    choices: tuple[str, ...] | None = None,
) -> Any:
    """Declare a model parameter.

    ``range`` is the plausible range explored by the stress test (``None`` for fixed parameters);
    ``bounds`` are hard limits checked on every config (``None`` means unbounded on that side).
    """
    md = dict(range=range, unit=unit, meaning=meaning, source=source, bounds=bounds, group=group, choices=choices)
    return field(default=default, metadata={"s3sim": md})


# ----------------------------------------------------------------------------------------------------------------
# World
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class WorldConfig:
    """Regions and technology domains (ODD: entities, input data)."""

    kind: str = param(
        "alpine", range=None, unit="-", meaning="'alpine' loads the 11 partner regions shipped with the package; "
        "'synthetic' generates regions and domains", source="S3-4AlpClusters partner list (see world/data/SOURCES.md)",
        group="world", choices=("alpine", "synthetic"))
    n_regions: int = param(
        11, range=None, unit="regions", meaning="number of regions (synthetic worlds only)", source="[I]",
        bounds=(2, 500), group="world")
    n_domains: int = param(
        18, range=None, unit="domains", meaning="number of technology domains (synthetic worlds only)",
        source="[I]; the alpine vocabulary has 18", bounds=(3, 200), group="world")
    caps_per_domain: int = param(
        40, range=None, unit="capabilities", meaning="capabilities per technology domain (C = D x this)",
        source="SKIN uses 1000 capabilities; INFSO-SKIN 8 themes x 100", bounds=(4, 1000), group="world")
    k_rel: int = param(
        4, range=None, unit="domains", meaning="related neighbours per domain in a synthetic relatedness graph",
        source="[I] (model-spec 5.2)", bounds=(1, 50), group="world")
    p_rewire: float = param(
        0.1, range=None, unit="probability", meaning="share of incidental long-range relatedness links (synthetic)",
        source="Vermeulen & Pyka (2018) incidental relatedness; value [I]", bounds=(0.0, 1.0), group="world")
    region_size_exp: float = param(
        1.0, range=None, unit="-", meaning="Zipf exponent of synthetic region sizes", source="[M] Zipf for cities",
        bounds=(0.0, 5.0), group="world")
    extent_km: float = param(
        600.0, range=None, unit="km", meaning="side of the square in which synthetic regions are placed",
        source="[I]: Alpine Space capitals are 50-750 km apart", bounds=(1.0, 20000.0), group="world")


# ----------------------------------------------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class ModelConfig:
    """Every parameter of the model dynamics (ODD: submodels S1-S14)."""

    # --- scale and time -------------------------------------------------------------------------------------------
    n_agents: int = param(
        2000, range=None, unit="agents", meaning="total agents at t0 (firms, research institutes, cluster "
        "organisations, regional authorities), split over regions by economic mass", source="[I]",
        bounds=(50, 10_000_000), group="scale")
    burn_in: int = param(
        20, range=None, unit="quarters", meaning="steps run without policy before the policy horizon",
        source="model-spec 5.5 (40 proposed; 20 suffices for the indicators to settle) [I]",
        bounds=(0, 10_000), group="scale")
    horizon: int = param(
        80, range=None, unit="quarters", meaning="policy horizon (steps after burn-in); 80 quarters = 20 years, "
        "about three 7-year programming periods", source="[I]", bounds=(1, 100_000), group="scale")
    large_share: float = param(
        0.05, range=(0.01, 0.15), unit="share", meaning="share of large firms among initial firms",
        source="SKIN MNE option; SMEs 99.8% of enterprises but innovators are skewed [I]", bounds=(0.0, 1.0),
        group="scale")
    large_capital_mult: float = param(
        10.0, range=(5.0, 50.0), unit="x", meaning="initial capital of a large firm relative to an SME",
        source="SKIN MNE x50, reduced to limit dominance [I]", bounds=(1.0, 1000.0), group="scale")
    ri_per_100_firms: float = param(
        1.5, range=(0.3, 3.0), unit="per 100 firms", meaning="research institutes per 100 firms (before the "
        "regional public-R&D tilt)", source="[I]; res are 35% of FP7 participants (INFSO-SKIN)",
        bounds=(0.0, 100.0), group="scale")
    co_max_per_region: int = param(
        6, range=(1, 9), unit="organisations", meaning="cap on cluster organisations per region (data cluster "
        "count, capped)", source="data file cluster_count; Upper Austria 8, Lombardy 9", bounds=(0, 100),
        group="scale")
    co_default: int = param(
        3, range=None, unit="organisations", meaning="cluster organisations where the data file has no count",
        source="model-spec 5.10 co_per_region default", bounds=(0, 100), group="scale")
    co_membership_rate: float = param(
        0.5, range=(0.2, 0.9), unit="probability", meaning="probability that an eligible actor (>= 2 "
        "capabilities in the focal domain) joins a cluster organisation", source="[I]", bounds=(0.0, 1.0),
        group="scale")
    lambda_km: float = param(
        300.0, range=(100.0, 800.0), unit="km", meaning="distance-decay length of geographic proximity and "
        "spillovers", source="Bottazzi & Peri (2003): spillovers within about 300 km", bounds=(1.0, 1e5),
        group="flows")
    border_penalty: float = param(
        0.7, range=(0.3, 1.0), unit="x", meaning="proximity multiplier across national borders",
        source="Bottazzi & Peri (2003) weaker across borders; value [I]", bounds=(0.0, 1.0), group="flows")

    # --- knowledge (S1, S2) -----------------------------------------------------------------------------------------
    kene_sme: int = param(
        10, range=(5, 15), unit="triples", meaning="initial kene length of an SME or start-up", source="SKIN 10",
        bounds=(2, 200), group="knowledge")
    kene_large: int = param(
        20, range=(10, 40), unit="triples", meaning="initial kene length of a large firm", source="SKIN MNE x2",
        bounds=(2, 200), group="knowledge")
    kene_ri: int = param(
        25, range=(10, 40), unit="triples", meaning="initial kene length of a research institute",
        source="INFSO-SKIN research institutes 25", bounds=(2, 200), group="knowledge")
    cap_growth: float = param(
        2.0, range=(1.2, 4.0), unit="x", meaning="kene capacity relative to the initial length",
        source="[I]; SKIN unbounded, INFSO bounded", bounds=(1.0, 10.0), group="knowledge")
    ih_len_max: int = param(
        8, range=(4, 12), unit="triples", meaning="maximum innovation-hypothesis length (minimum 2)",
        source="SKIN max-ih-length 9 + 2 [V]; 8 here", bounds=(2, 50), group="knowledge")
    u0: float = param(
        0.2, range=(0.0, 0.5), unit="share", meaning="share of initial kene slots drawn uniformly instead of from "
        "the region's specialisation profile", source="[I] (model-spec 5.5)", bounds=(0.0, 1.0), group="knowledge")

    # --- research and accounting (S4, S5) ---------------------------------------------------------------------------
    initial_capital: float = param(
        4000.0, range=None, unit="money", meaning="starting capital of an SME (numeraire)", source="SKIN slider",
        bounds=(1.0, None), group="core")
    success_threshold: float = param(
        300.0, range=(100.0, 1000.0), unit="money/quarter", meaning="profit above which a firm does no research",
        source="SKIN 1000 per step; rescaled to the domain market's revenue scale [I]", bounds=(0.0, None),
        group="core")
    low_capital_threshold: float = param(
        1000.0, range=(500.0, 3000.0), unit="money", meaning="capital at or below which research is radical",
        source="SKIN 1000", bounds=(0.0, None), group="core")
    c_incr: float = param(
        200.0, range=(100.0, 400.0), unit="money/quarter", meaning="cost of one incremental research step",
        source="SKIN incr-research-tax 200", bounds=(0.0, None), group="core")
    c_rad: float = param(
        1000.0, range=(500.0, 2000.0), unit="money/quarter", meaning="cost of one radical research step",
        source="SKIN radical-research-tax 1000", bounds=(0.0, None), group="core")
    c_collab: float = param(
        110.0, range=(50.0, 250.0), unit="money/quarter", meaning="cost per partnership per partner",
        source="SKIN collaboration-tax 110", bounds=(0.0, None), group="core")
    depreciation: float = param(
        100.0, range=(50.0, 200.0), unit="money/quarter", meaning="fixed cost per step (also the input share of "
        "the value-added proxy)", source="SKIN depreciation 100", bounds=(0.0, None), group="core")
    s_incr: float = param(
        1.0, range=(0.5, 3.0), unit="x", meaning="incremental research step multiplier on A/C",
        source="SKIN step A_k/C_k [V]; multiplier [I]", bounds=(0.0, 100.0), group="core")
    p_innov_incr: float = param(
        0.1, range=(0.03, 0.3), unit="probability", meaning="chance that an incremental research step yields "
        "an innovation (before the critical-mass multiplier)", source="[I]", bounds=(0.0, 1.0), group="core")
    p_innov_rad: float = param(
        0.5, range=(0.2, 0.9), unit="probability", meaning="chance that a radical research step yields an "
        "innovation (before the critical-mass multiplier)", source="[I]", bounds=(0.0, 1.0), group="core")
    relatedness_bias: float = param(
        0.9, range=(0.5, 1.0), unit="share", meaning="weight of relatedness in choosing a radical target domain "
        "(1 - unrelated-jump probability)", source="principle of relatedness (Hidalgo et al. 2018); [I]",
        bounds=(0.0, 1.0), group="core")
    crowding_out: float = param(
        0.4, range=(0.0, 0.8), unit="share", meaning="share of a research subsidy that replaces private spending "
        "instead of buying extra effort", source="Falck, Heblich & Kipar (2010): targeted firms' R&D -19.4%; "
        "value [I]", bounds=(0.0, 1.0), group="core")
    ri_grant: float = param(
        450.0, range=(300.0, 900.0), unit="money/quarter", meaning="public base funding of a research institute "
        "per step", source="[I]: covers depreciation, incremental research and one partnership",
        bounds=(0.0, None), group="core")

    # --- market (S3) -------------------------------------------------------------------------------------------------
    sigma_M: float = param(
        1.0, range=(0.5, 2.0), unit="log", meaning="lognormal dispersion of initial domain demand", source="[I]",
        bounds=(0.0, 10.0), group="market")
    mu_g: float = param(
        0.005, range=(-0.005, 0.015), unit="log/quarter", meaning="drift of domain demand", source="[I]",
        bounds=(-1.0, 1.0), group="market")
    sigma_g: float = param(
        0.01, range=(0.0, 0.03), unit="log/quarter", meaning="noise of domain demand", source="[I]",
        bounds=(0.0, 1.0), group="market")
    beta_q: float = param(
        2.0, range=(0.5, 5.0), unit="1/quality", meaning="logit sensitivity of market share to quality",
        source="[I]", bounds=(0.0, 100.0), group="market")
    sigma_v: float = param(
        1.8, range=(1.2, 2.8), unit="log", meaning="lognormal sigma of product appeal (innovation value)",
        source="Scherer & Harhoff (2000): top 10% take 48-93% <=> sigma in [1.23, 2.76]", bounds=(0.0, 10.0),
        group="market")
    appeal_weight: float = param(
        0.5, range=(0.25, 1.0), unit="elasticity", meaning="elasticity of market share to product appeal",
        source="[I]: 1 makes sales as skewed as innovation values", bounds=(0.0, 5.0), group="market")
    home_bias: float = param(
        0.3, range=(0.0, 0.7), unit="share", meaning="share of domain demand that is regional (contested only by "
        "firms of that region)", source="[I]", bounds=(0.0, 1.0), group="market")
    revenue_cost_ratio: float = param(
        1.0, range=(0.7, 1.5), unit="x", meaning="firms' total revenue at t0 relative to their running costs "
        "(depreciation + incremental research + one partnership); fixes money units", source="model-spec 5.5 step "
        "4, restated for totals [I]", bounds=(0.01, 100.0),
        group="market")

    # --- partnering and knowledge flows (S6, S7, S10) ---------------------------------------------------------------
    partnering: bool = param(
        True, range=None, unit="switch", meaning="agents search partners and exchange knowledge",
        source="SKIN partnering switch", group="flows")
    search_rate: float = param(
        0.3, range=(0.1, 0.6), unit="probability/quarter", meaning="chance that an unsuccessful actor searches "
        "for a new partner in a quarter", source="[I]; SKIN searches every step", bounds=(0.0, 1.0), group="flows")
    n_candidates: int = param(
        5, range=(3, 15), unit="agents", meaning="partner candidates examined per search",
        source="SKIN max-partners 5; INFSO search depth 20", bounds=(1, 64), group="flows")
    max_partners: int = param(
        5, range=(2, 15), unit="agents", meaning="maximum partnerships an agent holds in one step", source="[I]",
        bounds=(1, 64), group="flows")
    theta_attr: float = param(
        0.2, range=(0.05, 0.5), unit="score", meaning="attractiveness threshold for a partnership",
        source="SKIN attractiveness-threshold 0.2", bounds=(0.0, 10.0), group="flows")
    p_local: float = param(
        0.5, range=(0.2, 0.8), unit="share", meaning="share of candidates drawn from the searcher's own region",
        source="[I]", bounds=(0.0, 1.0), group="flows")
    p_prev: float = param(
        0.25, range=(0.0, 0.5), unit="share", meaning="share of candidates drawn from previous partners",
        source="INFSO-SKIN: previous partners first", bounds=(0.0, 1.0), group="flows")
    p_tc: float = param(
        0.2, range=(0.0, 0.5), unit="share", meaning="share of candidates drawn among partners of partners "
        "(triadic closure)", source="INFSO-SKIN; Cowan et al. (2007) structural embeddedness", bounds=(0.0, 1.0),
        group="flows")
    p_cluster: float = param(
        0.15, range=(0.0, 0.4), unit="share", meaning="share of candidates drawn from the searcher's cluster "
        "organisation (multiplied by cluster brokerage)", source="[I]", bounds=(0.0, 1.0), group="flows")
    cluster_brokerage: float = param(
        1.0, range=(1.0, 3.0), unit="x", meaning="brokerage multiplier of cluster organisations (1 = no extra "
        "brokerage; policies raise it)", source="model-spec 5.8 b_CO", bounds=(1.0, 20.0), group="flows")
    w_geo: float = param(
        1.0, range=(0.0, 2.0), unit="exponent", meaning="weight of geographic proximity in attractiveness",
        source="Boschma (2005); value [I]", bounds=(0.0, 10.0), group="flows")
    w_soc: float = param(
        1.0, range=(0.0, 2.0), unit="x", meaning="attractiveness bonus for a past tie", source="Boschma (2005); [I]",
        bounds=(0.0, 10.0), group="flows")
    w_org: float = param(
        0.5, range=(0.0, 2.0), unit="x", meaning="attractiveness bonus for sharing a cluster organisation",
        source="Boschma (2005); [I]", bounds=(0.0, 10.0), group="flows")
    w_inst: float = param(
        0.5, range=(0.0, 2.0), unit="exponent", meaning="weight of institutional proximity (same country)",
        source="Boschma (2005); [I]", bounds=(0.0, 10.0), group="flows")
    tie_memory: int = param(
        8, range=(4, 16), unit="quarters", meaning="steps a partnership is remembered as a tie",
        source="Neulaendtner (2020) collaboration memory 9 months-units; [I]", bounds=(1, 1000), group="flows")
    a0: float = param(
        0.6, range=(0.2, 1.0), unit="probability", meaning="base probability of absorbing a new capability from a "
        "partner", source="[I]; SKIN effectively 1", bounds=(0.0, 1.0), group="flows")
    d_star: float = param(
        0.4, range=(0.2, 0.7), unit="distance", meaning="optimal cognitive distance of the inverted-U learning "
        "curve", source="Nooteboom et al. (2007); value [I]", bounds=(0.01, 1.0), group="flows")
    g_floor: float = param(
        0.1, range=(0.0, 0.3), unit="factor", meaning="minimum learning factor at any cognitive distance",
        source="[I]", bounds=(0.0, 1.0), group="flows")
    e_penalty_new: int = param(
        1, range=(0, 3), unit="expertise", meaning="expertise lost by a triple learned from a partner (floor 2)",
        source="SKIN / INFSO-SKIN", bounds=(0, 9), group="flows")
    ih_regen_mid: float = param(
        2.5, range=(1.5, 4.0), unit="x median kene", meaning="kene length (relative to the median initial "
        "length) at which a new innovation hypothesis is drawn with probability 1/2 after learning",
        source="SKIN 100 / 25, rescaled to bounded kenes [I]", bounds=(0.1, 100.0), group="flows")
    sigma_s: float = param(
        0.02, range=(0.0, 0.08), unit="probability", meaning="spillover intensity: base chance per step of a "
        "spillover event", source="calibrated to Bottazzi & Peri (2003) [I]", bounds=(0.0, 1.0), group="flows")

    # --- critical mass (S11) ----------------------------------------------------------------------------------------
    g_min: float = param(
        0.5, range=(0.2, 1.0), unit="factor", meaning="research productivity with no local mass (1 switches the "
        "critical-mass effect off)", source="Brenner (2001) self-augmenting clusters; value [I]",
        bounds=(0.0, 1.0), group="critical_mass")
    eta: float = param(
        2.0, range=(1.0, 4.0), unit="-", meaning="Hill exponent of the critical-mass multiplier", source="[I]",
        bounds=(0.1, 20.0), group="critical_mass")
    m_star_rel: float = param(
        1.0, range=(0.5, 3.0), unit="x mean mass", meaning="critical mass relative to the mean positive mass of "
        "a region-domain at t0", source="[I]", bounds=(0.01, 100.0), group="critical_mass")
    omega: float = param(
        0.5, range=(0.0, 1.0), unit="weight", meaning="weight of linked regions' mass in the effective mass",
        source="model-spec S11; [I]", bounds=(0.0, 1.0), group="critical_mass")

    # --- demography (S12, S13) --------------------------------------------------------------------------------------
    start_up_trigger: float = param(
        950.0, range=(300.0, 2000.0), unit="money/quarter", meaning="profit above which a firm may spawn a "
        "spin-off", source="SKIN v4.24 reward-to-trigger-start-up 950", bounds=(0.0, None), group="demography")
    spinoff_rate: float = param(
        0.1, range=(0.02, 0.3), unit="probability/quarter", meaning="chance per step that a firm above the "
        "trigger spawns a spin-off", source="[I]; replaces SKIN's log10(best reward) start-ups (scale-invariant)",
        bounds=(0.0, 1.0), group="demography")
    spinoff_local_prob: float = param(
        0.9, range=(0.6, 1.0), unit="probability", meaning="chance that a spin-off stays in its parent's region",
        source="Bagley (2017); Klepper's spin-off regularities", bounds=(0.0, 1.0), group="demography")
    startup_expertise_cap: int = param(
        3, range=(1, 10), unit="expertise", meaning="expertise cap of triples cloned into a start-up",
        source="SKIN 'low expertise level'; value [I]", bounds=(1, 10), group="demography")
    entrant_rate: float = param(
        0.002, range=(0.0, 0.006), unit="1/quarter", meaning="non-local entrants per existing firm per step",
        source="Neffke et al. (2018); value [I]", bounds=(0.0, 1.0), group="demography")
    ri_spinoff_rate: float = param(
        0.01, range=(0.0, 0.05), unit="1/quarter", meaning="academic spin-offs per research institute per step",
        source="[I]", bounds=(0.0, 1.0), group="demography")
    p_radical_ri: float = param(
        0.05, range=(0.0, 0.2), unit="probability", meaning="chance per step that a research institute does "
        "radical research", source="model-spec S12", bounds=(0.0, 1.0), group="demography")

    # --- observation (S14, S17) -------------------------------------------------------------------------------------
    network_every: int = param(
        4, range=None, unit="quarters", meaning="steps between network-metric observations", source="[I]",
        bounds=(1, 10_000), group="observation")
    evidence_every: int = param(
        4, range=None, unit="quarters", meaning="steps between regional-evidence observations (RCA, relatedness "
        "density, specialisation entries and exits)", source="[I]", bounds=(1, 10_000), group="observation")
    materialize_agents: bool = param(
        True, range=None, unit="switch", meaning="create Mesa agent objects (False: headless batch mode with "
        "identical results)", source="performance-notes 5.9", group="observation")
    max_actors: int = param(
        0, range=None, unit="actors", meaning="safety cap on actors ever created (rows of the actor table, dead "
        "ones included); a run that would exceed it stops with an error naming the step. 0 = no cap",
        source="[I]; guards long sweeps against runaway populations", bounds=(0, 10**9), group="observation")


@dataclass
class PolicyConfig:
    """S3 policy regimes and their instruments (ODD: S15 strategies, S16 calls, proposals and projects).

    ``regime`` applies to every region not listed in ``regions``; ``regions`` maps a region id to its own
    regime (``policy.regions.IT_VE=topdown_s3``); ``pilots`` names pilot cluster organisations
    (``REGION:domain``, or ``auto`` for one per region) that run under ``pilot_regime`` while the rest of their
    region keeps its own regime.
    """

    regime: str = param(
        "none", range=None, unit="-", meaning="default S3 policy regime of every region",
        source="model-spec 5.8 (P0a-P3)", group="policy",
        choices=("none", "horizontal", "topdown_s3", "cluster_s3", "transregional_s3"))
    budget_per_firm: float = param(
        40.0, range=(10.0, 100.0), unit="money/firm/quarter", meaning="total public budget per quarter, per firm "
        "alive at the end of the burn-in (the same for every funded regime)", source="[I]; about 10% of firms' "
        "R&D spending, the order of public support to business R&D in the Alpine regions", bounds=(0.0, None),
        group="policy")
    subsidy_rate: float = param(
        0.5, range=(0.25, 0.75), unit="share", meaning="share of research or project costs paid by the public "
        "budget", source="EU State aid rules allow 25-80% for R&D; [I]", bounds=(0.0, 1.0), group="policy")
    n_priorities: int = param(
        4, range=(2, 8), unit="domains", meaning="priority domains per region (top-down and EDP selection)",
        source="Alpine RIS3s state 4-9 areas (data file); [I]", bounds=(1, 200), group="policy")
    use_stated_priorities: bool = param(
        False, range=None, unit="switch", meaning="top-down S3 takes the region's stated priorities from the data "
        "file instead of choosing from existing strengths", source="Eye@RIS3 / data file", group="policy")
    review_period: int = param(
        28, range=(12, 40), unit="quarters", meaning="top-down S3: steps between priority reviews (a programming "
        "period)", source="EU programming period of 7 years", bounds=(1, 10_000), group="policy")
    sigma_sel: float = param(
        1.0, range=(0.0, 2.0), unit="z-score", meaning="top-down S3: noise of the authority's assessment of "
        "strengths", source="model-spec 5.8; [I]", bounds=(0.0, 100.0), group="policy")
    tau_dir: float = param(
        1.0, range=(0.0, 3.0), unit="x", meaning="tilt of radical search toward priority domains",
        source="model-spec S5 directionality; [I]", bounds=(0.0, 100.0), group="policy")
    edp_period: int = param(
        4, range=(2, 12), unit="quarters", meaning="cluster-led S3: steps between entrepreneurial-discovery "
        "reviews", source="S3 Platform: EDP as a continuous process; model-spec 5.8", bounds=(1, 10_000),
        group="policy")
    sigma_edp: float = param(
        0.5, range=(0.0, 2.0), unit="z-score", meaning="cluster-led S3: noise of the EDP assessment (lower than "
        "top-down: it pools entrepreneurial knowledge)", source="model-spec 5.8; [I]", bounds=(0.0, 100.0),
        group="policy")
    w_signal: float = param(
        1.0, range=(0.0, 2.0), unit="weight", meaning="EDP weight of cluster signals (members' recent "
        "discoveries)", source="model-spec 5.8", bounds=(0.0, 100.0), group="policy")
    w_relatedness: float = param(
        0.5, range=(0.0, 2.0), unit="weight", meaning="EDP weight of relatedness density",
        source="Balland et al. (2019)", bounds=(0.0, 100.0), group="policy")
    w_complexity: float = param(
        0.5, range=(0.0, 2.0), unit="weight", meaning="EDP weight of domain complexity",
        source="Balland et al. (2019)", bounds=(0.0, 100.0), group="policy")
    theta_exit: float = param(
        0.5, range=(0.2, 0.9), unit="x median", meaning="EDP exit rule: a priority whose innovations fall below "
        "this share of the regional median for two reviews is dropped", source="Foray (2015): priorities are "
        "temporary; model-spec 5.8", bounds=(0.0, 10.0), group="policy")
    max_changes: int = param(
        1, range=(1, 3), unit="domains", meaning="EDP: most priorities replaced per review", source="[I]",
        bounds=(0, 200), group="policy")
    call_period: int = param(
        4, range=(2, 8), unit="quarters", meaning="steps between collaborative calls", source="[I]",
        bounds=(1, 10_000), group="policy")
    project_duration: int = param(
        8, range=(4, 12), unit="quarters", meaning="duration of a funded project", source="INFSO-SKIN "
        "instruments (2-3 years)", bounds=(1, 1000), group="policy")
    project_size: int = param(
        4, range=(3, 8), unit="actors", meaning="target consortium size (at least 3: a coordinator and two members, "
        "so the composition repairs swap a member instead of adding one; EU collaborative projects need 3 partners)",
        source="INFSO-SKIN; [I]", bounds=(3, 50), group="policy")
    project_cost: float = param(
        300.0, range=(150.0, 600.0), unit="money/member/quarter", meaning="cost of a project per member and "
        "quarter (the public share is subsidy_rate)", source="[I]: comparable to incremental research",
        bounds=(0.0, None), group="policy")
    p_deliverable: float = param(
        0.15, range=(0.05, 0.3), unit="probability/quarter", meaning="chance per quarter that a project delivers "
        "an innovation (times the critical-mass multiplier)", source="INFSO-SKIN deliverables; [I]",
        bounds=(0.0, 1.0), group="policy")
    co_grant_share: float = param(
        0.1, range=(0.0, 0.3), unit="share", meaning="cluster-led S3: share of the budget paid as operating grants "
        "to cluster organisations in priority domains", source="model-spec 5.8 s_CO", bounds=(0.0, 1.0),
        group="policy")
    co_brokerage: float = param(
        2.0, range=(1.0, 3.0), unit="x", meaning="cluster-led S3: brokerage multiplier of funded cluster "
        "organisations", source="model-spec 5.8 b_CO", bounds=(1.0, 20.0), group="policy")
    transregional_share: float = param(
        0.3, range=(0.1, 0.5), unit="share", meaning="trans-regional S3: share of the total budget pooled for "
        "joint calls (taken from the regional budgets)", source="S3-4AlpClusters synchronised scheme; [I]",
        bounds=(0.0, 1.0), group="policy")
    joint_cost_factor: float = param(
        0.5, range=(0.0, 1.0), unit="x", meaning="trans-regional S3: extra cost of a joint project per member "
        "(coordination across regions and administrations)", source="[I]: interregional cooperation has "
        "transaction costs (Interreg evaluations)", bounds=(0.0, 10.0), group="policy")
    phi_min: float = param(
        0.3, range=(0.1, 0.6), unit="relatedness", meaning="trans-regional S3: least relatedness between partner "
        "regions' priorities and the call domain", source="model-spec 5.8", bounds=(0.0, 1.0), group="policy")
    regions: Dict[str, Any] = field(default_factory=dict)
    pilots: List[str] = field(default_factory=list)
    pilot_regime: str = param(
        "transregional_s3", range=None, unit="-", meaning="regime of pilot cluster organisations",
        source="S3-4AlpClusters WP T3", group="policy",
        choices=("none", "horizontal", "topdown_s3", "cluster_s3", "transregional_s3"))


@dataclass
class OutputConfig:
    """Where and what the CLI writes."""

    dir: str = "."  # relative to Hydra's run directory


@dataclass
class S3SimConfig:
    """The root configuration tree (the same for :func:`s3sim.compose` and the ``s3sim`` CLI)."""

    seed: int = 0
    # Replicate number within a sweep: when set, the run's streams are spawned from the sweep seed,
    # SeedSequence(seed).spawn(replicate + 1)[replicate], never derived as seed + replicate.
    replicate: Optional[int] = None
    world: WorldConfig = field(default_factory=WorldConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
