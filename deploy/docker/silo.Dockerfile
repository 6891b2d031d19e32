# syntax=docker/dockerfile:1
# The VaultGrains silo. Build from the repository root:
#   docker build -f deploy/docker/silo.Dockerfile -t vaultgrains-silo:TAG .
# Not built in this repository's CI (no container engine there); kept in step with the projects.

# The SDK image must carry SDK 10.0.401 or a later 10.0 feature band (global.json).
ARG SDK_IMAGE=mcr.microsoft.com/dotnet/sdk:10.0
ARG RUNTIME_IMAGE=mcr.microsoft.com/dotnet/aspnet:10.0

FROM ${SDK_IMAGE} AS build
WORKDIR /src
# Restore from the project files alone, so this layer is reused until a dependency changes.
COPY global.json Directory.Build.props Directory.Packages.props ./
COPY src/Domain/Domain.csproj src/Domain/
COPY src/Grains.Interfaces/Grains.Interfaces.csproj src/Grains.Interfaces/
COPY src/Grains/Grains.csproj src/Grains/
COPY src/Hosting/Hosting.csproj src/Hosting/
COPY src/Silo/Silo.csproj src/Silo/
RUN dotnet restore src/Silo/Silo.csproj
COPY src/ src/
RUN dotnet publish src/Silo/Silo.csproj -c Release --no-restore -o /app -p:UseAppHost=false

# ASP.NET Core runtime (the silo serves its probe endpoint with Kestrel), no SDK.
FROM ${RUNTIME_IMAGE} AS runtime
WORKDIR /app
COPY --from=build /app ./
ENV DOTNET_ENVIRONMENT=Production \
    Orleans__SiloPort=11111 \
    Orleans__GatewayPort=30000 \
    Health__Port=8081
# Silo-to-silo, client gateway, HTTP probes.
EXPOSE 11111 30000 8081
# The non-root user the .NET images provide (UID 1654).
USER $APP_UID
ENTRYPOINT ["dotnet", "VaultGrains.Silo.dll"]
