# syntax=docker/dockerfile:1
# The VaultGrains API (an Orleans client, or with Api__HostSilo=true a silo itself). Build from the repository root:
#   docker build -f deploy/docker/api.Dockerfile -t vaultgrains-api:TAG .
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
COPY src/Grains/Grains.csproj src/Grains/
COPY src/Silo/Silo.csproj src/Silo/
COPY src/Api/Api.csproj src/Api/
RUN dotnet restore src/Api/Api.csproj
COPY src/ src/
RUN dotnet publish src/Api/Api.csproj -c Release --no-restore -o /app -p:UseAppHost=false

FROM ${RUNTIME_IMAGE} AS runtime
WORKDIR /app
COPY --from=build /app ./
# 8080 is the .NET images' default non-root HTTP port.
ENV DOTNET_ENVIRONMENT=Production \
    ASPNETCORE_URLS=http://+:8080
EXPOSE 8080
USER $APP_UID
ENTRYPOINT ["dotnet", "VaultGrains.Api.dll"]
