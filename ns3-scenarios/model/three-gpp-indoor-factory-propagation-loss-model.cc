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
