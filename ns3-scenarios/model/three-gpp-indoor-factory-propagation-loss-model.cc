/*
 * fedmarl-ns3: 3GPP TR 38.901 Indoor Factory (InF) path loss with spatially correlated shadowing.
 * SPDX-License-Identifier: GPL-2.0-only
 */

#include "three-gpp-indoor-factory-propagation-loss-model.h"

#include "three-gpp-indoor-factory-channel-condition-model.h"

#include "ns3/abort.h"
#include "ns3/boolean.h"
#include "ns3/double.h"
#include "ns3/log.h"
#include "ns3/mobility-model.h"
#include "ns3/pointer.h"
#include "ns3/string.h"
#include "ns3/uinteger.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace ns3
{

NS_LOG_COMPONENT_DEFINE("ThreeGppIndoorFactoryPropagationLossModel");

NS_OBJECT_ENSURE_REGISTERED(ThreeGppIndoorFactoryPropagationLossModel);

TypeId
ThreeGppIndoorFactoryPropagationLossModel::GetTypeId()
{
    static TypeId tid =
        TypeId("ns3::ThreeGppIndoorFactoryPropagationLossModel")
            .SetParent<PropagationLossModel>()
            .SetGroupName("Propagation")
            .AddConstructor<ThreeGppIndoorFactoryPropagationLossModel>()
            .AddAttribute("Frequency",
                          "Carrier frequency (Hz).",
                          DoubleValue(6e9),
                          MakeDoubleAccessor(
                              &ThreeGppIndoorFactoryPropagationLossModel::SetFrequency,
                              &ThreeGppIndoorFactoryPropagationLossModel::GetFrequency),
                          MakeDoubleChecker<double>())
            .AddAttribute(
                "Scenario",
                "InF sub-scenario of TR 38.901 whose NLOS path loss and shadow std apply: SL, DL, "
                "SH, DH or HH (or the clutter names sparse, dense, sparse-high, dense-high, "
                "high-high).",
                StringValue("SL"),
                MakeStringAccessor(&ThreeGppIndoorFactoryPropagationLossModel::SetScenario,
                                   &ThreeGppIndoorFactoryPropagationLossModel::GetScenario),
                MakeStringChecker())
            .AddAttribute("ShadowingEnabled",
                          "Apply the spatially correlated shadow fading (bool).",
                          BooleanValue(true),
                          MakeBooleanAccessor(
                              &ThreeGppIndoorFactoryPropagationLossModel::m_shadowingEnabled),
                          MakeBooleanChecker())
            .AddAttribute("ShadowCorrelationDistance",
                          "Decorrelation distance d_c (m) of the shadowing field, whose "
                          "correlation is exp(-d / d_c).",
                          DoubleValue(10.0),
                          MakeDoubleAccessor(&ThreeGppIndoorFactoryPropagationLossModel::
                                                 m_shadowCorrelationDistance),
                          MakeDoubleChecker<double>(1e-6))
            .AddAttribute("FieldTerms",
                          "Number of cosine terms J of the shadowing field (dimensionless).",
                          UintegerValue(fedmarl::SpatialField::kDefaultTerms),
                          MakeUintegerAccessor(
                              &ThreeGppIndoorFactoryPropagationLossModel::m_fieldTerms),
                          MakeUintegerChecker<uint32_t>(1))
            .AddAttribute(
                "ChannelConditionModel",
                "The channel condition model deciding the LOS state of each link (pointer); "
                "default: a ThreeGppIndoorFactoryChannelConditionModel of the same Scenario.",
                PointerValue(),
                MakePointerAccessor(
                    &ThreeGppIndoorFactoryPropagationLossModel::SetChannelConditionModel,
                    &ThreeGppIndoorFactoryPropagationLossModel::GetChannelConditionModel),
                MakePointerChecker<ChannelConditionModel>());
    return tid;
}

ThreeGppIndoorFactoryPropagationLossModel::ThreeGppIndoorFactoryPropagationLossModel()
    : m_normal(CreateObject<NormalRandomVariable>()),
      m_uniform(CreateObject<UniformRandomVariable>())
{
    NS_LOG_FUNCTION(this);
}

ThreeGppIndoorFactoryPropagationLossModel::~ThreeGppIndoorFactoryPropagationLossModel()
{
    NS_LOG_FUNCTION(this);
}

void
ThreeGppIndoorFactoryPropagationLossModel::DoDispose()
{
    NS_LOG_FUNCTION(this);
    m_conditionModel = nullptr;
    m_normal = nullptr;
    m_uniform = nullptr;
    m_field.reset();
    PropagationLossModel::DoDispose();
}

void
ThreeGppIndoorFactoryPropagationLossModel::SetChannelConditionModel(
    Ptr<ChannelConditionModel> model)
{
    NS_LOG_FUNCTION(this << model);
    m_conditionModel = model;
    m_ownsConditionModel = false;
}

void
ThreeGppIndoorFactoryPropagationLossModel::EnsureConditionModel() const
{
    if (!m_conditionModel)
    {
        // A missing condition model is almost always "the InF one of the same scenario"; making
        // it here saves every user the wiring that would otherwise be a fatal error.
        auto model = CreateObject<ThreeGppIndoorFactoryChannelConditionModel>();
        model->SetScenario(GetScenario());
        m_conditionModel = model;
        m_ownsConditionModel = true;
        NS_LOG_LOGIC("created a default InF-" << GetScenario() << " channel condition model");
    }
}

Ptr<ChannelConditionModel>
ThreeGppIndoorFactoryPropagationLossModel::GetChannelConditionModel() const
{
    EnsureConditionModel();
    return m_conditionModel;
}

void
ThreeGppIndoorFactoryPropagationLossModel::SetFrequency(double f)
{
    NS_LOG_FUNCTION(this << f);
    NS_ABORT_MSG_IF(!(f > 0.0), "Frequency must be > 0 Hz, got " << f);
    m_frequency = f;
}

double
ThreeGppIndoorFactoryPropagationLossModel::GetFrequency() const
{
    return m_frequency;
}

void
ThreeGppIndoorFactoryPropagationLossModel::SetScenario(const std::string& scenario)
{
    NS_LOG_FUNCTION(this << scenario);
    try
    {
        m_scenario = fedmarl::InfScenarioFromString(scenario);
    }
    catch (const std::invalid_argument& e)
    {
        NS_ABORT_MSG(e.what());
    }
    if (m_ownsConditionModel)
    {
        DynamicCast<ThreeGppIndoorFactoryChannelConditionModel>(m_conditionModel)
            ->SetScenario(GetScenario());
    }
}

std::string
ThreeGppIndoorFactoryPropagationLossModel::GetScenario() const
{
    return fedmarl::InfScenarioToString(m_scenario);
}

fedmarl::InfScenario
ThreeGppIndoorFactoryPropagationLossModel::GetInfScenario() const
{
    return m_scenario;
}

const fedmarl::SpatialField&
ThreeGppIndoorFactoryPropagationLossModel::GetShadowField() const
{
    // Drawn lazily (after attributes and AssignStreams); replaced when ShadowCorrelationDistance
    // or FieldTerms changed since it was drawn, unless it was given by SetShadowField.
    if (!m_field || (!m_fieldGiven &&
                     (m_field->GetCorrelationDistance() != m_shadowCorrelationDistance ||
                      m_field->GetNTerms() != m_fieldTerms)))
    {
        NS_LOG_LOGIC("drawing a shadow field, d_c = " << m_shadowCorrelationDistance << " m");
        m_field = fedmarl::SpatialField::Draw(m_shadowCorrelationDistance,
                                              m_normal,
                                              m_uniform,
                                              m_fieldTerms);
    }
    return *m_field;
}

void
ThreeGppIndoorFactoryPropagationLossModel::NewRealisation()
{
    NS_LOG_FUNCTION(this);
    m_field.reset();
    m_fieldGiven = false;
    GetShadowField();
}

void
ThreeGppIndoorFactoryPropagationLossModel::SetShadowField(const fedmarl::SpatialField& field)
{
    NS_LOG_FUNCTION(this);
    m_field = field;
    m_fieldGiven = true;
}

ThreeGppIndoorFactoryPropagationLossModel::LinkLoss
ThreeGppIndoorFactoryPropagationLossModel::Evaluate(Ptr<const MobilityModel> a,
                                                    Ptr<const MobilityModel> b) const
{
    EnsureConditionModel();
    const Vector pa = a->GetPosition();
    const Vector pb = b->GetPosition();
    const bool los = m_conditionModel->GetChannelCondition(a, b)->IsLos();
    LinkLoss out;
    out.los = los;
    out.pathlossDb =
        fedmarl::InfPathloss(CalculateDistance(pa, pb), m_frequency / 1e9, m_scenario, los);
    // The field lives on the horizontal plane, as in the twin (its link distance is d_2D); its
    // values are memoised per node, so a refresh of all links costs J cosines per node.
    const double z =
        GetShadowField().CachedLinkValue(PeekPointer(a), pa.x, pa.y, PeekPointer(b), pb.x, pb.y);
    out.shadowingDb = fedmarl::InfShadowStdDb(m_scenario, los) * z;
    NS_LOG_DEBUG((los ? "LOS" : "NLOS") << " PL = " << out.pathlossDb
                                        << " dB, X = " << out.shadowingDb << " dB");
    return out;
}

double
ThreeGppIndoorFactoryPropagationLossModel::GetLoss(Ptr<MobilityModel> a,
                                                   Ptr<MobilityModel> b) const
{
    const LinkLoss l = Evaluate(a, b);
    return l.pathlossDb + (m_shadowingEnabled ? l.shadowingDb : 0.0);
}

double
ThreeGppIndoorFactoryPropagationLossModel::GetPathloss(Ptr<MobilityModel> a,
                                                       Ptr<MobilityModel> b) const
{
    return Evaluate(a, b).pathlossDb;
}

double
ThreeGppIndoorFactoryPropagationLossModel::GetShadowing(Ptr<MobilityModel> a,
                                                        Ptr<MobilityModel> b) const
{
    return Evaluate(a, b).shadowingDb;
}

double
ThreeGppIndoorFactoryPropagationLossModel::DoCalcRxPower(double txPowerDbm,
                                                         Ptr<MobilityModel> a,
                                                         Ptr<MobilityModel> b) const
{
    NS_LOG_FUNCTION(this << txPowerDbm << a << b);
    return txPowerDbm - GetLoss(a, b);
}

void
ThreeGppIndoorFactoryPropagationLossModel::CalcRxPowerMatrix(double txPowerDbm,
                                                             const std::vector<Ptr<MobilityModel>>& tx,
                                                             const std::vector<Ptr<MobilityModel>>& rx,
                                                             double* out)
{
    NS_LOG_FUNCTION(this << txPowerDbm << tx.size() << rx.size());
    EnsureConditionModel();
    const auto inf = DynamicCast<ThreeGppIndoorFactoryChannelConditionModel>(m_conditionModel);
    const size_t nTx = tx.size();
    // Only the InF model itself (a subclass may decide LOS differently) and no chained model.
    if (!inf || inf->GetInstanceTypeId() != ThreeGppIndoorFactoryChannelConditionModel::GetTypeId() ||
        GetNext())
    {
        for (size_t i = 0; i < rx.size(); ++i)
        {
            for (size_t j = 0; j < nTx; ++j)
            {
                out[i * nTx + j] = CalcRxPower(txPowerDbm, tx[j], rx[i]);
            }
        }
        return;
    }
    // The per-link path (Evaluate with the condition model's GetChannelCondition) step by step,
    // in the same operations and order, so that every value is identical: each end's field
    // values are what CachedValue would return (Value at its position), computed once here.
    const fedmarl::SpatialField& losField = inf->GetLosField();
    const fedmarl::SpatialField& shadowField = GetShadowField();
    const fedmarl::InfScenario losScenario = inf->GetInfScenario();
    const double density = inf->GetClutterDensity();
    const double size = inf->GetClutterSize();
    const double height = inf->GetClutterHeight();
    const double fGhz = m_frequency / 1e9;
    struct End
    {
        Vector p;
        double los;
        double shadow;
    };

    auto ends = [&](const std::vector<Ptr<MobilityModel>>& models) {
        std::vector<End> e(models.size());
        for (size_t k = 0; k < models.size(); ++k)
        {
            const Vector p = models[k]->GetPosition();
            e[k] = End{p, losField.Value(p.x, p.y), shadowField.Value(p.x, p.y)};
        }
        return e;
    };
    const std::vector<End> a = ends(tx);
    const std::vector<End> b = ends(rx);
    // The LOS threshold Phi^-1(P_LOS(d)) as the per-link path computes it; an exact
    // computation per link was ~25 % of an N = 1000 run.
    auto threshold = [&](double d2d, double hBs, double hUt) {
        try
        {
            return fedmarl::InverseNormalCdf(
                fedmarl::InfLosProbability(d2d, losScenario, density, size, height, hBs, hUt));
        }
        catch (const std::invalid_argument& e)
        {
            NS_FATAL_ERROR(e.what());
        }
        return 0.0;
    };
    // The threshold falls with d (P_LOS does, Phi^-1 rises): on a grid of step h it lies in
    // [tau(d_{k+1}), tau(d_k)] between two grid points, so a link whose value is outside that
    // bracket (by more than the computation's ~1e-13 noise) gets the same decision without the
    // computation; the ~0.1 % inside it are computed exactly. Decisions are identical to the
    // per-link path's. The grid holds for the heights of the first link (all of them, where
    // APs and devices each share one height); other heights take the exact path.
    constexpr double kGridStep = 0.05; // m
    constexpr double kSlack = 1e-9;
    const double hBs0 = a.empty() || b.empty() ? 0.0 : std::max(a[0].p.z, b[0].p.z);
    const double hUt0 = a.empty() || b.empty() ? 0.0 : std::min(a[0].p.z, b[0].p.z);
    std::vector<double> tau;
    if (!a.empty() && !b.empty())
    {
        // Every link is shorter than the diagonal of the box around all ends.
        double x0 = a[0].p.x, x1 = x0, y0 = a[0].p.y, y1 = y0;
        for (const auto* v : {&a, &b})
        {
            for (const End& e : *v)
            {
                x0 = std::min(x0, e.p.x);
                x1 = std::max(x1, e.p.x);
                y0 = std::min(y0, e.p.y);
                y1 = std::max(y1, e.p.y);
            }
        }
        const double dMax = std::hypot(x1 - x0, y1 - y0);
        const auto cells = static_cast<size_t>(dMax / kGridStep) + 2;
        tau.resize(cells + 1);
        for (size_t k = 0; k <= cells; ++k)
        {
            tau[k] = threshold(static_cast<double>(k) * kGridStep, hBs0, hUt0);
        }
    }
    for (size_t i = 0; i < b.size(); ++i)
    {
        const End& pb = b[i];
        double* row = out + i * nTx;
        for (size_t j = 0; j < nTx; ++j)
        {
            const End& pa = a[j];
            const double d2d = std::hypot(pa.p.x - pb.p.x, pa.p.y - pb.p.y);
            const double hBs = std::max(pa.p.z, pb.p.z);
            const double hUt = std::min(pa.p.z, pb.p.z);
            const double z = losField.CombineLink(pa.los, pb.los, d2d);
            const auto cell = static_cast<size_t>(d2d / kGridStep);
            const bool gridded = hBs == hBs0 && hUt == hUt0 && cell + 1 < tau.size();
            bool los;
            if (gridded && z < tau[cell + 1] - kSlack)
            {
                los = true;
            }
            else if (gridded && z > tau[cell] + kSlack)
            {
                los = false;
            }
            else
            {
                los = z < threshold(d2d, hBs, hUt);
            }
            const double pathlossDb =
                fedmarl::InfPathloss(CalculateDistance(pa.p, pb.p), fGhz, m_scenario, los);
            const double shadowingDb = fedmarl::InfShadowStdDb(m_scenario, los) *
                                       shadowField.CombineLink(pa.shadow, pb.shadow, d2d);
            row[j] = txPowerDbm - (pathlossDb + (m_shadowingEnabled ? shadowingDb : 0.0));
        }
    }
}

int64_t
ThreeGppIndoorFactoryPropagationLossModel::DoAssignStreams(int64_t stream)
{
    NS_LOG_FUNCTION(this << stream);
    m_normal->SetStream(stream);
    m_uniform->SetStream(stream + 1);
    m_field.reset();
    m_fieldGiven = false;
    int64_t used = 2;
    EnsureConditionModel();
    // A user-supplied condition model gets its streams from the user, as with ns-3's 3GPP models;
    // the default one exists only inside this model, so this model must number it.
    if (m_ownsConditionModel)
    {
        used += m_conditionModel->AssignStreams(stream + used);
    }
    return used;
}

} // namespace ns3
