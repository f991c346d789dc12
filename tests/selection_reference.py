"""Independent per-event reference of the object selection, channels and features.

Plain Python on the event dicts of :mod:`nanoaod_builder` (values rounded to float32 as
they are stored in the file), using ``math`` only. Used by the tests to check the columnar
implementation event by event.
"""

from __future__ import annotations

import itertools
import math
import struct

TAU, MU, E = 15, 13, 11
PDG = {"tau": TAU, "mu": MU, "e": E}
RANK = {TAU: 0, MU: 1, E: 2}
Z_MASS = 91.1876


def f32(x: float) -> float:
    return struct.unpack("f", struct.pack("f", float(x)))[0]


def obj(o: dict, defaults: dict) -> dict:
    """An object with builder defaults filled in, floats rounded to float32."""
    out = {}
    for k, (default, _dtype) in defaults.items():
        v = o.get(k, default)
        out[k] = f32(v) if isinstance(v, float) else v
    return out


def dphi(a: float, b: float) -> float:
    d = math.fmod(a - b, 2 * math.pi)
    if d >= math.pi:
        d -= 2 * math.pi
    elif d < -math.pi:
        d += 2 * math.pi
    return d


def dr(a: dict, b: dict) -> float:
    return math.hypot(a["eta"] - b["eta"], dphi(a["phi"], b["phi"]))


def p4(o: dict) -> tuple[float, float, float, float]:
    pt, eta, phi, m = o["pt"], o["eta"], o["phi"], o["mass"]
    px, py, pz = pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(eta)
    return px, py, pz, math.sqrt(px * px + py * py + pz * pz + m * m)


def event_filters(ev: dict, cfg) -> dict[str, bool]:
    """The event filters before the object selection: every MET filter flag of the era set,
    and at least ``event.min_good_vertices`` good primary vertices."""
    flags = ev.get("Flag", {})
    return {
        "met_filters": all(flags.get(f, True) for f in cfg.era_config.met_filters),
        "good_vertex": ev.get("PV_npvsGood", 30) >= cfg.event.min_good_vertices,
    }


def select_event(ev: dict, cfg, defaults: dict) -> dict:
    """Selected objects of one event, in the order of the file."""
    c = cfg.objects
    mus = [obj(o, defaults["Muon"]) for o in ev.get("Muon", [])]
    els = [obj(o, defaults["Electron"]) for o in ev.get("Electron", [])]
    tas = [obj(o, defaults["Tau"]) for o in ev.get("Tau", [])]
    jes = [obj(o, defaults["Jet"]) for o in ev.get("Jet", [])]
    cm, ce, ct, cj = c.muon, c.electron, c.tau, c.jet
    mus = [
        m
        for m in mus
        if m["pt"] > cm.pt_min
        and abs(m["eta"]) < cm.abs_eta_max
        and m[cm.id]
        and m["pfRelIso04_all"] < cm.rel_iso_max
        and abs(m["dxy"]) < cm.dxy_max
        and abs(m["dz"]) < cm.dz_max
    ]
    els = [
        e
        for e in els
        if e["pt"] > ce.pt_min
        and abs(e["eta"]) < ce.abs_eta_max
        and e[ce.id]
        and e["pfRelIso03_all"] < ce.rel_iso_max
        and abs(e["dxy"]) < ce.dxy_max
        and abs(e["dz"]) < ce.dz_max
        and e["lostHits"] <= ce.max_lost_hits
        and (e["convVeto"] or not ce.conversion_veto)
    ]
    wps = ("VVVLoose", "VVLoose", "VLoose", "Loose", "Medium", "Tight", "VTight", "VVTight")
    mu_wps = ("VLoose", "Loose", "Medium", "Tight")
    tas = [
        t
        for t in tas
        if t["pt"] > ct.pt_min
        and abs(t["eta"]) < ct.abs_eta_max
        and abs(t["dz"]) < ct.dz_max
        and t["decayMode"] in ct.decay_modes
        and t["vsjet"] >= wps.index(ct.vs_jet) + 1
        and t["vse"] >= wps.index(ct.vs_e) + 1
        and t["vsmu"] >= mu_wps.index(ct.vs_mu) + 1
        and all(dr(t, x) > c.overlap_dr for x in mus + els)
    ]
    bit = {"loose": 7, "tight": 2, "tightlepveto": 4}[cj.jet_id]
    jes = [
        j
        for j in jes
        if j["pt"] > cj.pt_min
        and abs(j["eta"]) < cj.abs_eta_max
        and (j["jetId"] & bit)
        and all(dr(j, x) > c.overlap_dr for x in mus + els + tas)
    ]
    wp = cfg.era_config.btag_wp[cj.btag_wp]
    for j in jes:
        j["btag"] = j["btagDeepFlavB"] > f32(wp)
    return {"muons": mus, "electrons": els, "taus": tas, "jets": jes}


def _path_used(path, run: int, is_mc: bool) -> bool:
    if is_mc:
        return path.simulation
    if path.data_runs is None:
        return True
    first, last = path.data_runs
    return (first is None or run >= first) and (last is None or run <= last)


def _leg_takes(leg, lep: dict, trig_objs: list[dict], matching: bool) -> bool:
    """Whether ``lep`` can take trigger ``leg``: flavour, thresholds, a matching TrigObj."""
    if lep["flavour"] != PDG[leg.object]:
        return False
    if not (lep["pt"] > leg.pt_min and abs(lep["eta"]) < leg.abs_eta_max):
        return False
    if not matching:
        return True
    return any(
        t["id"] == PDG[leg.object]
        and all((int(t["filterBits"]) >> b) & 1 for b in leg.filter_bits)
        and dr(lep, t) < leg.dr_max
        for t in trig_objs
    )


def trigger_event(ev: dict, leps: list[dict], channel: int, cfg, hlt_present=None,
                  is_mc: bool = True) -> tuple[str | None, tuple[int, ...]]:  # fmt: skip
    """The trigger group the event is assigned to (None: fails the trigger step) and the
    positions in ``leps`` of the leptons taking that path's legs."""
    if channel < 0:
        return None, ()
    from nanoaod_builder import trigger_objects

    era = cfg.era_config
    hlt = ev.get("HLT", {})
    run = ev.get("run", 1)
    trig_objs = [
        {"id": t["id"], "eta": f32(t["eta"]), "phi": f32(t["phi"]),
         "filterBits": t["filterBits"]}
        for t in trigger_objects(ev)
    ]  # fmt: skip
    for group in cfg.channels[channel].triggers:
        for name in era.triggers[group]:
            path = era.trigger_paths[name]
            if not (hlt.get(name, True) and (hlt_present is None or name in hlt_present)):
                continue
            if not _path_used(path, run, is_mc):
                continue
            for perm in itertools.permutations(range(len(leps)), len(path.legs)):
                if all(
                    _leg_takes(leg, leps[i], trig_objs, cfg.trigger_matching)
                    for leg, i in zip(path.legs, perm)
                ):
                    return group, perm
    return None, ()


def jet_veto(ev: dict, cfg, defaults: dict, in_map) -> bool:
    """Whether the JME jet-veto-map recipe rejects the event: a jet with pT > 15 GeV, the
    tight ID, charged + neutral EM fraction < 0.9 and no muon within ΔR < 0.2 lies where
    ``in_map(eta, phi)`` is true (None: the era has no map)."""
    if in_map is None:
        return False
    cuts = cfg.era_config.jets.veto_map
    muons = [obj(o, defaults["Muon"]) for o in ev.get("Muon", [])]
    for j in (obj(o, defaults["Jet"]) for o in ev.get("Jet", [])):
        if (
            j["pt"] > cuts.pt_min
            and j["jetId"] & 2
            and j["chEmEF"] + j["neEmEF"] < cuts.em_fraction_max
            and all(dr(j, m) >= cuts.muon_dr for m in muons)
            and in_map(j["eta"], j["phi"])
        ):
            return True
    return False


def channel_event(
    ev: dict, cfg, defaults: dict, hlt_present=None, is_mc: bool = True, veto_map=None
) -> dict:
    """Leptons, channel index, every selection step and every region of one event.

    ``veto_map``: ``(eta, phi) -> bool``, the era's jet veto map (None: no map)."""
    objs = select_event(ev, cfg, defaults)
    cands = (
        [dict(t, flavour=TAU) for t in objs["taus"]]
        + [dict(m, flavour=MU) for m in objs["muons"]]
        + [dict(e, flavour=E) for e in objs["electrons"]]
    )
    top = sorted(cands, key=lambda x: -x["pt"])[:3]
    leps = sorted(top, key=lambda x: (RANK[x["flavour"]], -x["pt"]))
    n = {f: sum(1 for x in leps if x["flavour"] == f) for f in (TAU, MU, E)}
    channel = -1
    for i, ch in enumerate(cfg.channels):
        if (n[TAU], n[MU], n[E]) == (ch.n_tau, ch.n_mu, ch.n_e):
            channel = i
    trigger_group, trigger_legs = trigger_event(ev, leps, channel, cfg, hlt_present, is_mc)
    trigger = trigger_group is not None
    pairs = [(leps[i], leps[j]) for i in range(len(leps)) for j in range(i + 1, len(leps))]
    n_b = sum(1 for j in objs["jets"] if j["btag"])
    steps = {
        "three_leptons": len(cands) >= 3,
        "extra_lepton_veto": len(cands) <= 3 or not cfg.objects.veto_extra_leptons,
        "has_tau": n[TAU] >= 1,
        "channel": channel >= 0,
        "charge": abs(sum(x["charge"] for x in leps)) == 1,
        "lepton_dr": all(dr(a, b) > cfg.objects.lepton_separation_dr for a, b in pairs),
        "trigger": trigger,
        "jet_veto_map": not jet_veto(ev, cfg, defaults, veto_map),
        "bjet_veto": n_b == 0,
    }
    selected = all(v for k, v in steps.items() if k != "bjet_veto")

    def z_pair(window: float) -> bool:
        for a, b in pairs:
            if a["flavour"] == b["flavour"] != TAU and a["charge"] != b["charge"]:
                pa, pb = p4(a), p4(b)
                s = [pa[k] + pb[k] for k in range(4)]
                m = math.sqrt(max(s[3] ** 2 - s[0] ** 2 - s[1] ** 2 - s[2] ** 2, 0.0))
                if abs(m - Z_MASS) < window:
                    return True
        return False

    regions = {}
    for r in cfg.regions:
        ok = selected
        if r.bjet_veto == "apply":
            ok = ok and n_b == 0
        elif r.bjet_veto == "invert":
            ok = ok and n_b > 0
        if r.z_window_gev is not None:
            ok = ok and z_pair(r.z_window_gev)
        if r.z_veto_gev is not None:
            ok = ok and not z_pair(r.z_veto_gev)
        regions[r.name] = ok
    return {
        "objects": objs,
        "leptons": leps,
        "channel": channel,
        "steps": steps,
        "selected": selected,
        "regions": regions,
        "n_bjets": n_b,
        "trigger_group": trigger_group,
        "trigger_legs": trigger_legs,
    }


def mt(pt1: float, phi1: float, pt2: float, phi2: float) -> float:
    return math.sqrt(max(2 * pt1 * pt2 * (1 - math.cos(dphi(phi1, phi2))), 0.0))


def _system(vs: list[tuple[float, ...]]) -> dict:
    px, py, pz, e = (sum(v[k] for v in vs) for k in range(4))
    pt = math.hypot(px, py)
    return {
        "px": px,
        "py": py,
        "pz": pz,
        "e": e,
        "pt": pt,
        "mass": math.sqrt(max(e * e - px * px - py * py - pz * pz, 0.0)),
        "eta": math.asinh(pz / pt),
        "phi": math.atan2(py, px),
    }


def features_event(leps: list[dict], met_pt: float, met_phi: float) -> dict[str, float]:
    """Every kinematic feature of one event from three ordered leptons and MET."""
    out: dict[str, float] = {}
    vs = [p4(x) for x in leps]
    for i, (x, v) in enumerate(zip(leps, vs), start=1):
        out.update(
            {
                f"l{i}_pt": x["pt"],
                f"l{i}_eta": x["eta"],
                f"l{i}_phi": x["phi"],
                f"l{i}_mass": x["mass"],
                f"l{i}_energy": v[3],
                f"l{i}_px": v[0],
                f"l{i}_py": v[1],
                f"l{i}_pz": v[2],
            }
        )
    mx, my = met_pt * math.cos(met_phi), met_pt * math.sin(met_phi)
    out.update({"met_pt": met_pt, "met_phi": met_phi, "met_px": mx, "met_py": my})
    mt2 = 0.0
    drs = []
    for i, j in ((0, 1), (0, 2), (1, 2)):
        ij = f"{i + 1}{j + 1}"
        a, b = leps[i], leps[j]
        s = _system([vs[i], vs[j]])
        out[f"m_{ij}"] = s["mass"]
        out[f"pt_{ij}"] = s["pt"]
        out[f"eta_{ij}"] = s["eta"]
        out[f"phi_{ij}"] = s["phi"]
        out[f"energy_{ij}"] = s["e"]
        out[f"dr_{ij}"] = dr(a, b)
        out[f"dphi_{ij}"] = dphi(a["phi"], b["phi"])
        out[f"deta_{ij}"] = a["eta"] - b["eta"]
        out[f"mt_{ij}"] = mt(a["pt"], a["phi"], b["pt"], b["phi"])
        out[f"mt_{ij}met"] = mt(s["pt"], s["phi"], met_pt, met_phi)
        out[f"dphi_{ij}met"] = dphi(s["phi"], met_phi)
        out[f"pt_{ij}met"] = math.hypot(s["px"] + mx, s["py"] + my)
        mt2 += out[f"mt_{ij}"] ** 2
        drs.append(out[f"dr_{ij}"])
    for i, x in enumerate(leps, start=1):
        out[f"mt_{i}"] = mt(x["pt"], x["phi"], met_pt, met_phi)
        out[f"dphi_{i}met"] = dphi(x["phi"], met_phi)
        mt2 += out[f"mt_{i}"] ** 2
    s = _system(vs)
    out.update(
        {
            "m_3l": s["mass"],
            "pt_3l": s["pt"],
            "eta_3l": s["eta"],
            "phi_3l": s["phi"],
            "mt_3l": mt(s["pt"], s["phi"], met_pt, met_phi),
            "dphi_3lmet": dphi(s["phi"], met_phi),
            "pt_3lmet": math.hypot(s["px"] + mx, s["py"] + my),
            "mt_total": math.sqrt(mt2),
            "e_vis": sum(v[3] for v in vs),
            "sum_pt": sum(x["pt"] for x in leps),
            "min_dr": min(drs),
            "max_dr": max(drs),
        }
    )
    out["e_tot"] = out["e_vis"] + met_pt
    return out


def jet_features(jets: list[dict]) -> dict[str, float]:
    lead = max(jets, key=lambda j: j["pt"]) if jets else None
    return {
        "ht": sum(j["pt"] for j in jets),
        "n_jets": float(len(jets)),
        "n_bjets": float(sum(1 for j in jets if j["btag"])),
        "j1_pt": lead["pt"] if lead else -1.0,
        "j1_eta": lead["eta"] if lead else 0.0,
        "j1_phi": lead["phi"] if lead else 0.0,
    }
