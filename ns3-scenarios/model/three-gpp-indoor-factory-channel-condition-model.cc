/*
 * fedmarl-ns3: spatially consistent LOS/NLOS condition of the 3GPP TR 38.901 Indoor Factory.
 * SPDX-License-Identifier: GPL-2.0-only
 */

#include "three-gpp-indoor-factory-channel-condition-model.h"

#include "ns3/abort.h"
#include "ns3/double.h"
#include "ns3/log.h"
#include "ns3/mobility-model.h"
#include "ns3/string.h"
#include "ns3/uinteger.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace ns3
{

NS_LOG_COMPONENT_DEFINE("ThreeGppIndoorFactoryChannelConditionModel");

NS_OBJECT_ENSURE_REGISTERED(ThreeGppIndoorFactoryChannelConditionModel);

TypeId
ThreeGppIndoorFactoryChannelConditionModel::GetTypeId()
{
    static TypeId tid =
        TypeId("ns3::ThreeGppIndoorFactoryChannelConditionModel")
            .SetParent<ChannelConditionModel>()
            .SetGroupName("Propagation")
            .AddConstructor<ThreeGppIndoorFactoryChannelConditionModel>()
            .AddAttribute(
                "Scenario",
                "InF sub-scenario of TR 38.901: SL, DL, SH, DH or HH (or the clutter names "
                "sparse, dense, sparse-high, dense-high, high-high).",
                StringValue("SL"),
                MakeStringAccessor(&ThreeGppIndoorFactoryChannelConditionModel::SetScenario,
                                   &ThreeGppIndoorFactoryChannelConditionModel::GetScenario),
                MakeStringChecker())
            .AddAttribute("ClutterDensity",
                          "Clutter density r (dimensionless, in (0, 1)); 0 selects the "
                          "Table 7.2-4 calibration value of the scenario (0.2 sparse, 0.6 dense).",
                          DoubleValue(0.0),
                          MakeDoubleAccessor(
                              &ThreeGppIndoorFactoryChannelConditionModel::m_clutterDensity),
                          MakeDoubleChecker<double>(0.0, 1.0))
            .AddAttribute("ClutterSize",
                          "Clutter size d_clutter (m); 0 selects the calibration value "
                          "(10 m sparse, 2 m dense).",
                          DoubleValue(0.0),
                          MakeDoubleAccessor(
                              &ThreeGppIndoorFactoryChannelConditionModel::m_clutterSize),
                          MakeDoubleChecker<double>(0.0))
            .AddAttribute("ClutterHeight",
                          "Effective clutter height h_c (m), used by SH and DH; 0 selects the "
                          "calibration value (2 m sparse, 6 m dense).",
                          DoubleValue(0.0),
                          MakeDoubleAccessor(
                              &ThreeGppIndoorFactoryChannelConditionModel::m_clutterHeight),
                          MakeDoubleChecker<double>(0.0))
            .AddAttribute("LosCorrelationDistance",
                          "Correlation distance (m) of the field the LOS states are drawn from; "
                          "0 selects ClutterSize / 2 (TR 38.901 Table 7.6.3.1-2).",
                          DoubleValue(0.0),
                          MakeDoubleAccessor(&ThreeGppIndoorFactoryChannelConditionModel::
                                                 m_losCorrelationDistance),
                          MakeDoubleChecker<double>(0.0))
            .AddAttribute("FieldTerms",
                          "Number of cosine terms J of the LOS field (dimensionless).",
                          UintegerValue(fedmarl::SpatialField::kDefaultTerms),
                          MakeUintegerAccessor(
                              &ThreeGppIndoorFactoryChannelConditionModel::m_fieldTerms),
                          MakeUintegerChecker<uint32_t>(1));
    return tid;
}

ThreeGppIndoorFactoryChannelConditionModel::ThreeGppIndoorFactoryChannelConditionModel()
    : m_normal(CreateObject<NormalRandomVariable>()),
      m_uniform(CreateObject<UniformRandomVariable>())
{
    NS_LOG_FUNCTION(this);
}

ThreeGppIndoorFactoryChannelConditionModel::~ThreeGppIndoorFactoryChannelConditionModel()
{
    NS_LOG_FUNCTION(this);
}

void
ThreeGppIndoorFactoryChannelConditionModel::DoDispose()
{
    NS_LOG_FUNCTION(this);
    m_normal = nullptr;
    m_uniform = nullptr;
    m_field.reset();
    ChannelConditionModel::DoDispose();
}

void
ThreeGppIndoorFactoryChannelConditionModel::SetScenario(const std::string& scenario)
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
}

std::string
ThreeGppIndoorFactoryChannelConditionModel::GetScenario() const
{
    return fedmarl::InfScenarioToString(m_scenario);
}

fedmarl::InfScenario
ThreeGppIndoorFactoryChannelConditionModel::GetInfScenario() const
{
    return m_scenario;
}

double
ThreeGppIndoorFactoryChannelConditionModel::GetClutterDensity() const
{
    return m_clutterDensity > 0.0 ? m_clutterDensity
                                  : fedmarl::InfCalibrationClutter(m_scenario).density;
}

double
ThreeGppIndoorFactoryChannelConditionModel::GetClutterSize() const
{
    return m_clutterSize > 0.0 ? m_clutterSize : fedmarl::InfCalibrationClutter(m_scenario).size;
}

double
ThreeGppIndoorFactoryChannelConditionModel::GetClutterHeight() const
{
    return m_clutterHeight > 0.0 ? m_clutterHeight
                                 : fedmarl::InfCalibrationClutter(m_scenario).height;
}

double
ThreeGppIndoorFactoryChannelConditionModel::GetLosCorrelationDistance() const
{
    return m_losCorrelationDistance > 0.0 ? m_losCorrelationDistance : GetClutterSize() / 2.0;
}

const fedmarl::SpatialField&
ThreeGppIndoorFactoryChannelConditionModel::GetLosField() const
{
    // Drawn lazily: attributes and AssignStreams come after construction, and a realisation
    // drawn with stale parameters (an attribute changed since) is replaced, unless it was given.
    const double dc = GetLosCorrelationDistance();
    if (!m_field || (!m_fieldGiven && (m_field->GetCorrelationDistance() != dc ||
                                       m_field->GetNTerms() != m_fieldTerms)))
    {
        NS_LOG_LOGIC("drawing a LOS field, d_c = " << dc << " m, J = " << m_fieldTerms);
        m_field = fedmarl::SpatialField::Draw(dc, m_normal, m_uniform, m_fieldTerms);
    }
    return *m_field;
}

void
ThreeGppIndoorFactoryChannelConditionModel::NewRealisation()
{
    NS_LOG_FUNCTION(this);
    m_field.reset();
    m_fieldGiven = false;
    GetLosField();
}

void
ThreeGppIndoorFactoryChannelConditionModel::SetLosField(const fedmarl::SpatialField& field)
{
    NS_LOG_FUNCTION(this);
    m_field = field;
    m_fieldGiven = true;
}

int64_t
ThreeGppIndoorFactoryChannelConditionModel::AssignStreams(int64_t stream)
{
    NS_LOG_FUNCTION(this << stream);
    m_normal->SetStream(stream);
    m_uniform->SetStream(stream + 1);
    m_field.reset();
    m_fieldGiven = false;
    return 2;
}

double
ThreeGppIndoorFactoryChannelConditionModel::ComputePlos(Ptr<const MobilityModel> a,
                                                        Ptr<const MobilityModel> b) const
{
    const Vector pa = a->GetPosition();
    const Vector pb = b->GetPosition();
    const double d2d = std::hypot(pa.x - pb.x, pa.y - pb.y);
    // Reciprocal by construction: the higher antenna is the BS whichever end is the transmitter.
    const double hBs = std::max(pa.z, pb.z);
    const double hUt = std::min(pa.z, pb.z);
    try
    {
        return fedmarl::InfLosProbability(d2d,
                                          m_scenario,
                                          GetClutterDensity(),
                                          GetClutterSize(),
                                          GetClutterHeight(),
                                          hBs,
                                          hUt);
    }
    catch (const std::invalid_argument& e)
    {
        NS_FATAL_ERROR(e.what());
    }
}

double
ThreeGppIndoorFactoryChannelConditionModel::GetLosLinkValue(Ptr<const MobilityModel> a,
                                                            Ptr<const MobilityModel> b) const
{
    const Vector pa = a->GetPosition();
    const Vector pb = b->GetPosition();
    // Memoised per node: a refresh of all links costs J cosines per node, not per link.
    return GetLosField().CachedLinkValue(PeekPointer(a), pa.x, pa.y, PeekPointer(b), pb.x, pb.y);
}

Ptr<ChannelCondition>
ThreeGppIndoorFactoryChannelConditionModel::GetChannelCondition(Ptr<const MobilityModel> a,
                                                                Ptr<const MobilityModel> b) const
{
    NS_LOG_FUNCTION(this << a << b);
    const double pLos = ComputePlos(a, b);
    // u = Phi(Z_los) is uniform, and u < P_LOS  <=>  Z_los < Phi^-1(P_LOS); comparing in the
    // Gaussian domain avoids evaluating Phi per link. P_LOS = 1 gives +inf: always LOS.
    const double z = GetLosLinkValue(a, b);
    const bool los = z < fedmarl::InverseNormalCdf(pLos);
    NS_LOG_DEBUG("P_LOS = " << pLos << ", Z_los = " << z << " -> " << (los ? "LOS" : "NLOS"));
    return CreateObject<ChannelCondition>(los ? ChannelCondition::LOS : ChannelCondition::NLOS,
                                          ChannelCondition::I2I);
}

} // namespace ns3
