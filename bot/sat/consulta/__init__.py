"""The SAT's public CFDI status service (ConsultaCFDIService): its shipped WSDL and a zeep
client. The only part of bot.sat that speaks SOAP; what its answers mean is bot.sat.status."""
