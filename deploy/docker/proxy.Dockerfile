# syntax=docker/dockerfile:1
# The VaultGrains secret proxy (an Orleans client). Build from the repository root:
#   docker build -f deploy/docker/proxy.Dockerfile -t vaultgrains-proxy:TAG .
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
COPY src/Hosting/Hosting.csproj src/Hosting/
COPY src/Proxy/Proxy.csproj src/Proxy/
RUN dotnet restore src/Proxy/Proxy.csproj
COPY src/ src/
RUN dotnet publish src/Proxy/Proxy.csproj -c Release --no-restore -o /app -p:UseAppHost=false

FROM ${RUNTIME_IMAGE} AS runtime
WORKDIR /app
COPY --from=build /app ./
# The proxy listens on Proxy:Address:Proxy:Port itself (8081 here, on every interface of the pod).
ENV DOTNET_ENVIRONMENT=Production \
    Proxy__Address=0.0.0.0 \
    Proxy__Port=8081
EXPOSE 8081
USER $APP_UID
ENTRYPOINT ["dotnet", "VaultGrains.Proxy.dll"]
